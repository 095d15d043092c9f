"""The CLI as a user runs it: a real process against the lab."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.reportcheck import assert_valid_report

pytestmark = pytest.mark.integration


def _cli(lab: Any, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "bannercheck.cli",
        "check",
        "--resolver",
        lab.resolver,
        "--allow-private",
        "--ca-file",
        lab.ca_file,
        "--timeout",
        "3",
        "--ehlo-name",
        "probe.bannercheck.test",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("domain", "status"),
    [
        ("nullmx.test", 0),
        ("expired.test", 1),
        ("servfail.test", 3),
    ],
)
def test_exit_status(lab: Any, domain: str, status: int) -> None:
    result = _cli(lab, domain)
    assert result.returncode == status, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_json_output_is_a_valid_report(lab: Any) -> None:
    result = _cli(lab, "--json", "good.test")
    report = json.loads(result.stdout)
    assert_valid_report(report)
    assert report["domain"] == "good.test"
    assert [h["name"] for h in report["dns"]["hosts"]] == ["mx1.good.test", "mx2.good.test"]


def test_several_domains_give_a_json_list_and_the_worst_status(lab: Any) -> None:
    result = _cli(lab, "--json", "nullmx.test", "expired.test", "good.test")
    reports = json.loads(result.stdout)
    assert sorted(r["domain"] for r in reports) == ["expired.test", "good.test", "nullmx.test"]
    for report in reports:
        assert_valid_report(report)
    assert result.returncode == 1


def test_a_repeated_domain_is_checked_once_and_still_gives_a_list(lab: Any) -> None:
    """Several DOMAIN arguments give a JSON list, even when they name one domain."""
    result = _cli(lab, "--json", "nullmx.test", "NullMX.test.")
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert isinstance(reports, list)
    assert [r["domain"] for r in reports] == ["nullmx.test"]
    assert_valid_report(reports[0])


def test_one_domain_gives_one_json_object(lab: Any) -> None:
    result = _cli(lab, "--json", "nullmx.test")
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    assert_valid_report(report)


def test_human_output_without_colour_when_piped(lab: Any) -> None:
    result = _cli(lab, "version.test")
    assert "\033[" not in result.stdout
    assert "BANNER_VULNERABLE_VERSION" in result.stdout
    assert "mx.version.test" in result.stdout
    assert "fix:" in result.stdout


def test_unicode_domain_is_shown_in_both_forms(lab: Any) -> None:
    result = _cli(lab, "--json", "bücher.test")
    report = json.loads(result.stdout)
    assert report["domain"] == "xn--bcher-kva.test"
    assert report["domain_unicode"] == "bücher.test"
