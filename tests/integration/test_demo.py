"""``make demo`` smoke test: its main, on its own lab, against one lab domain."""

from __future__ import annotations

import pytest

from tests.lab import demo

pytestmark = pytest.mark.integration


def test_demo_shows_an_inconclusive_domain_and_succeeds(capfd: pytest.CaptureFixture[str]) -> None:
    # servfail.test is inconclusive: the CLI exits 3, which is an answer, not a failure.
    assert demo.main(["servfail.test", "--timeout", "3"]) == 0
    out = capfd.readouterr().out
    assert "$ bannercheck check servfail.test" in out
    assert "DNS_LOOKUP_FAILED" in out
    assert "(exit status 3)" in out


def test_demo_fails_for_a_domain_the_lab_does_not_have(capfd: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["example.com"]) == 2
    assert "not lab domains: example.com" in capfd.readouterr().err
