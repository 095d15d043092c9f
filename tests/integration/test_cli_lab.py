"""The CLI as a user runs it: a real process against the lab."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.reportcheck import assert_valid_report

pytestmark = pytest.mark.integration


def _command(lab: Any, *args: str) -> list[str]:
    return [
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


def _cli(lab: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(lab, *args), capture_output=True, text=True, timeout=60, check=False
    )


def _cli_on_a_terminal(lab: Any, *args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its stdout, as a person's shell does.

    Returns the exit status and everything written to the terminal. The pty is read
    while the child runs: its buffer is small, and a full one would block the child.
    """
    controller, terminal = pty.openpty()
    try:
        child = subprocess.Popen(
            _command(lab, *args),
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=subprocess.PIPE,
            env=env,
        )
    finally:
        os.close(terminal)  # else reading never sees the end of the child's output
    chunks = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # Linux: EIO once the child's end is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        status = child.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(controller)
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.stderr is not None
    stderr = child.stderr.read().decode()
    child.stderr.close()
    assert "Traceback" not in stderr, stderr
    # The terminal's line discipline turns each \n into \r\n.
    return status, b"".join(chunks).decode().replace("\r\n", "\n")


_ANSI_SGR = re.compile("\033\\[[0-9;]*m")


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


def _environment(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(changes)
    return env


def test_human_output_in_colour_on_a_terminal(lab: Any) -> None:
    status, output = _cli_on_a_terminal(lab, "version.test", env=_environment())
    assert status == 1, output  # a fail finding: the status does not depend on the terminal
    assert "\033[1mversion.test\033[0m" in output  # the domain in bold
    assert "\033[31mFAIL (grade " in output  # the verdict in red
    assert "\033[31mFAIL        \033[0m BANNER_VULNERABLE_VERSION" in output
    plain = _ANSI_SGR.sub("", output)
    assert "\033[" not in plain  # only colour escapes, nothing else
    assert "mx.version.test" in plain
    assert "fix:" in plain


@pytest.mark.parametrize(
    ("domain", "status", "verdict"),
    [
        ("nullmx.test", 0, "\033[32mPASS (grade "),  # green
        ("servfail.test", 3, "\033[35mINCONCLUSIVE (grade "),  # magenta
    ],
)
def test_exit_status_on_a_terminal(lab: Any, domain: str, status: int, verdict: str) -> None:
    result, output = _cli_on_a_terminal(lab, domain, env=_environment())
    assert result == status, output
    assert verdict in output


def test_no_color_turns_colour_off_on_a_terminal(lab: Any) -> None:
    status, output = _cli_on_a_terminal(lab, "version.test", env=_environment(NO_COLOR="1"))
    assert status == 1, output
    assert "\033[" not in output
    assert "BANNER_VULNERABLE_VERSION" in output
    assert "mx.version.test" in output
