"""``make bench`` cannot rot: the harness runs end to end with a small N.

It checks that every measure produced well-formed figures (every row present,
every number positive, every tool's sessions completed), never how fast
anything was: performance targets are the business of ``make bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.measure import find_python313
from bench.run import HANDLERS, SAM_BUILD

# Saturates both cores for a while: runs alone, after the parallel suite (see Makefile).
pytestmark = [pytest.mark.integration, pytest.mark.heavy]

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), out


def _assert_stats(stat: dict[str, float], *, positive: bool = True) -> None:
    assert set(stat) == {"min", "median", "max", "n"}
    assert stat["n"] >= 1
    assert stat["min"] <= stat["median"] <= stat["max"]
    if positive:
        assert stat["min"] > 0


def test_one_domain_rows(quick_run: tuple[dict[str, Any], Path]) -> None:
    results, _out = quick_run
    rows = {(r["target"], r["tool"]): r for r in results["single"]}
    assert set(rows) == {
        (target, tool)
        for target in ("Postfix", "scripted peer")
        for tool in ("bannercheck", "swaks", "libraries only", "bare socket")
    }
    for row in rows.values():
        assert row["ok"], row
        for key in ("wall_s", "cpu_s", "peak_rss_mb"):
            _assert_stats(row[key])
        assert row["ratio_to_baseline"] > 0
        if row["tool"] in ("swaks", "libraries only"):
            assert row["check_ms"] is None  # no in-process figure: no check of its own
        else:
            _assert_stats(row["check_ms"])
            assert row["check_ratio_to_baseline"] > 0
        if row["tool"] == "bannercheck":
            _assert_stats(row["warm_check_ms"])
            assert row["warm_check_ratio_to_baseline"] > 0


def test_bulk_rows(quick_run: tuple[dict[str, Any], Path]) -> None:
    results, _out = quick_run
    tools = [r["tool"].split(" ")[0] for r in results["bulk"]]
    assert tools == ["bannercheck", "bare", "bare+DNS", "dnspython", "swaks", "nmap"]
    for row in results["bulk"]:
        # Every tool really did every session (the DNS-only row: resolved every
        # domain): a tool that failed fast is no result.
        assert row["tls_sessions_ok"] == row["domains"] > 0, row
        assert row["sessions"] is (row["tool"].split(" ")[0] != "dnspython"), row
        for key in ("wall_s", "domains_per_s", "cpu_s", "peak_rss_mb"):
            _assert_stats(row[key])


def test_growth_rows(quick_run: tuple[dict[str, Any], Path]) -> None:
    results, _out = quick_run
    assert [r["mx_hosts"] for r in results["growth_mx"]] == [1, 2, 4, 8, 16]
    assert len(results["growth_domains"]) >= 2
    for row in results["growth_domains"]:
        assert row["reports"] == row["domains"]
        assert row["tls_sessions_ok"] == row["domains"]
        _assert_stats(row["wall_s"])
        _assert_stats(row["peak_rss_mb"])
    for row in results["growth_mx"]:
        # All 16 MX hosts are probed: the bench raises the engine's default limit.
        assert row["tls_sessions_ok"] == row["sessions"] == row["domains"] * row["mx_hosts"]
        _assert_stats(row["sessions_per_s"])
    samples = results["memory_timeline"]["samples"]
    assert samples and all(mb > 0 for _t, mb in samples)


def test_cold_start_rows(quick_run: tuple[dict[str, Any], Path]) -> None:
    results, _out = quick_run
    handlers = sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py"))
    rows = {r["handler"]: r for r in results["imports"]}
    assert sorted(rows) == [f"functions/{h}/app.py" for h in handlers]
    for row in rows.values():
        assert row["error"] is None, row
        _assert_stats(row["import_ms"])
    assert results["layer"]["zip_bytes"] > 0
    cold = results["slack_cold"]
    assert cold["error"] is None, cold
    for key in ("import_ms", "first_ack_ms", "second_ack_ms"):
        _assert_stats(cold[key])
    assert any(t["target"].startswith("Slack cold start") for t in results["targets"])


def test_reports_written(quick_run: tuple[dict[str, Any], Path]) -> None:
    results, out = quick_run
    assert results["targets"], "no targets evaluated"
    # Every target of the issue is judged; only the information rows have no goal.
    for target in results["targets"]:
        assert isinstance(target["met"], bool) or "(information)" in target["target"], target
    markdown = (out / "RESULTS.md").read_text()
    for heading in ("## Targets", "## 1.", "## 2.", "## 3.", "## 4."):
        assert heading in markdown
    assert results["plots"]
    for name in results["plots"]:
        assert f"]({name})" in markdown
        assert (out / name).read_bytes().startswith(PNG_MAGIC)


def test_layer_import_rows(quick_run: tuple[dict[str, Any], Path]) -> None:
    # `make test` builds the layer first; with a CPython 3.13 here (the runtime's
    # version) the bench imports every handler from it, with and without bytecode.
    results, _out = quick_run
    deployed = results["layer_imports"]
    if find_python313() is None or not (SAM_BUILD / "BannercheckLayer").is_dir():
        assert deployed["rows"] == [] and deployed["error"], deployed
        return
    assert deployed["error"] is None, deployed
    assert [r["handler"] for r in deployed["rows"]] == list(HANDLERS)
    for row in deployed["rows"]:
        _assert_stats(row["as_built_ms"])
        _assert_stats(row["source_only_ms"])
