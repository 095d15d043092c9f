"""Write CPython bytecode into a built layer for what a cold start imports.

    python3.13 compile_layer.py LAYER_DIR [MODULE ...]

Lambda reads a layer from a read-only /opt, so a module without bytecode in the
zip is compiled again at every cold start. Compiling the whole layer would pass
the 10 MB zip budget (bench/RESULTS.md), most of it Slack SDK and Powertools
modules no handler loads; so this compiles what a child interpreter loads when it
imports every ``bannercheck`` module and each MODULE (the handlers' own imports),
plus the packages whose modules load by name at run time (dnspython's record
types) or from a native extension this machine may not run (cryptography's).
Run it with the runtime's Python: bytecode is version-specific.
"""

from __future__ import annotations

import os
import py_compile
import subprocess
import sys
from pathlib import Path

WHOLE = ("bannercheck", "dns/rdtypes", "cryptography", "idna")

# Run in a fresh interpreter, so that this script's own imports do not count.
# Every source file the imports read is recorded (the audit hook's "open"), also
# those of a module that then fails - on the runtime's boto3 or the layer's arm64
# code - and so leaves sys.modules again.
TRACE = """
import importlib, pkgutil, sys
read = set()
sys.addaudithook(lambda event, args: event == "open" and read.add(str(args[0])))
import bannercheck
found = pkgutil.walk_packages(bannercheck.__path__, "bannercheck.", lambda _name: None)
for name in [info.name for info in found] + sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        pass
print("\\n".join(read))
"""


def to_traced(layer: Path, modules: list[str]) -> set[Path]:
    env = {"PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.defpath}
    out = subprocess.run(
        [sys.executable, "-c", TRACE, *modules],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    return {p for line in out.splitlines() if (p := Path(line)).suffix == ".py"}


def to_sources(layer: Path, modules: list[str]) -> list[Path]:
    whole = {p for name in WHOLE for p in (layer / name).rglob("*.py")}
    inside = {p for p in to_traced(layer, modules) if p.is_relative_to(layer)}
    return sorted(whole | inside)


def main(argv: list[str]) -> int:
    layer, modules = Path(argv[0]).resolve(), argv[1:]
    sources = to_sources(layer, modules)
    for source in sources:
        py_compile.compile(
            str(source),
            doraise=True,
            # The zip's timestamps say nothing about the sources: never re-check them.
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    print(f"compile_layer: bytecode for {len(sources)} modules", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
