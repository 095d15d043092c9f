"""``sam build`` works offline, without Docker and without a local Python 3.13.

The build fetches wheels from PyPI (the package registry): `make test` runs `make build`
before the tests and points ``BANNERCHECK_SAM_BUILD_DIR`` at its output, so no test
touches the network. The layer is for arm64: on another machine its native extensions
cannot load, so the test imports the handlers with CPython 3.13 when one is installed
(everything they import at module level is pure Python) and checks the native files'
architecture from their ELF headers.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.measure import find_python313

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "bannercheck" / "bannercheck"
BIN = Path(sys.executable).parent
FUNCTIONS = ("ApiFunction", "ProbeFunction", "DispatchFunction", "SlackFunction")
EM_AARCH64 = 183


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # `make test` runs `make build` first (the build step is what fetches wheels
    # from the registry) and hands its output here, so the test itself stays
    # offline; run alone, the test builds into a temporary directory.
    prebuilt = os.environ.get("BANNERCHECK_SAM_BUILD_DIR")
    if prebuilt:
        path = Path(prebuilt)
        assert (path / "template.yaml").is_file(), f"{path}: run `make build` first"
        return path
    out = tmp_path_factory.mktemp("sam") / "build"
    # No pyenv shims and no python3.13 on PATH: the build must not need them.
    path = os.pathsep.join([str(BIN), "/usr/local/bin", "/usr/bin", "/bin"])
    env = {
        **os.environ,
        "PATH": path,
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAM_CLI_TELEMETRY": "0",
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
    }
    result = subprocess.run(
        [str(BIN / "sam"), "build", "--build-dir", str(out), "--template-file", "template.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def _elf_machine(path: Path) -> int:
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", path
    return int.from_bytes(head[18:20], "little")


def test_every_function_and_the_layer_are_built(built: Path) -> None:
    for name in FUNCTIONS:
        assert (built / name / "app.py").is_file(), name
    assert (built / "template.yaml").is_file()


def test_layer_holds_the_package_without_the_local_stack(built: Path) -> None:
    layer = built / "BannercheckLayer" / "python"
    source = {
        p.relative_to(PACKAGE)
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.parts[len(PACKAGE.parts)] != "local"
    }
    shipped = {
        p.relative_to(layer / "bannercheck")
        for p in (layer / "bannercheck").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped == source
    assert not (layer / "bannercheck" / "local").exists()


def test_layer_has_the_dependencies_for_arm64_and_no_boto3(built: Path) -> None:
    layer = built / "BannercheckLayer" / "python"
    for package in (
        "dns",
        "idna",
        "cryptography",
        "aws_lambda_powertools",
        "fastjsonschema",  # Powertools' validation of the API's request bodies
        "slack_bolt",
        "slack_sdk",
    ):
        assert (layer / package).is_dir(), package
    assert not (layer / "boto3").exists() and not (layer / "botocore").exists()
    native = list(layer.rglob("*.so"))
    assert native, "cryptography ships a native extension"
    for so in native:
        assert _elf_machine(so) == EM_AARCH64, so
        assert "x86_64" not in so.name


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handlers_import_on_python_313(built: Path, function: str) -> None:
    # Without a CPython 3.13 the running interpreter stands in: the layer's copies
    # come first on the path, and what the handlers import is pure Python.
    python = find_python313() or sys.executable
    layer = built / "BannercheckLayer" / "python"
    env = {
        "PYTHONPATH": os.pathsep.join([str(layer), str(built / function)]),
        "PATH": "/usr/bin:/bin",
        # The build output is shared by the tests: importing must not write to it.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [python, "-c", "import app, bannercheck; assert callable(app.handler)"],
        cwd=built / function,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def _imports(source: Path) -> list[str]:
    """Every module ``source`` imports, at module level or inside a function."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return [n for n in dict.fromkeys(names) if n != "__future__"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_layer_carries_bytecode_for_what_each_handler_imports(
    built: Path, function: str
) -> None:
    # Lambda cannot write bytecode to /opt: what the zip lacks is compiled at
    # every cold start. The build writes it with a CPython 3.13 when there is one.
    layer = built / "BannercheckLayer" / "python"
    python = find_python313()
    if python is None:
        assert not list(layer.rglob("*.pyc")), "bytecode for another Python than 3.13"
        return
    names = _imports(built / function / "app.py")
    # Each import on its own: what needs the runtime's boto3 or the layer's
    # arm64 code fails here, after loading the modules it reaches before that.
    code = (
        "import importlib\n"
        f"for name in {names!r}:\n"
        "    try: importlib.import_module(name)\n"
        "    except Exception: pass\n"
    )
    result = subprocess.run(
        [python, "-v", "-c", code],
        cwd=built / function,
        env={
            "PYTHONPATH": os.pathsep.join([str(layer), str(built / function)]),
            "PATH": "/usr/bin:/bin",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = [line for line in result.stderr.splitlines() if line.startswith("# code object from")]
    from_source = [line for line in loaded if str(layer) in line and not line.endswith(".pyc'")]
    assert [line for line in loaded if str(layer) in line], "nothing loaded from the layer"
    assert from_source == [], f"compiled at import: {from_source[:5]}"
    for module in PACKAGE.rglob("*.py"):
        if "local" in module.relative_to(PACKAGE).parts:
            continue
        shipped = layer / "bannercheck" / module.relative_to(PACKAGE)
        bytecode = shipped.parent / "__pycache__" / f"{shipped.stem}.cpython-313.pyc"
        assert bytecode.is_file(), shipped
