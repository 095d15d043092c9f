"""The EHLO name: a real-looking FQDN by default, never the checked domain's own."""

from __future__ import annotations

import pytest
from bannercheck.checks.parse import is_fqdn
from bannercheck.settings import (
    DEFAULT_EHLO_FALLBACK,
    NEUTRAL_EHLO_NAMES,
    Settings,
    default_ehlo_name,
    is_within,
    settings_from_env,
    to_announced_ehlo_name,
)


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("probe1.mail.example.com", "probe1.mail.example.com"),
        ("Probe1.Mail.Example.COM.", "probe1.mail.example.com"),
        ("mylaptop", DEFAULT_EHLO_FALLBACK),
        ("localhost", DEFAULT_EHLO_FALLBACK),
        ("localhost.localdomain", DEFAULT_EHLO_FALLBACK),
        ("build-7.localdomain", DEFAULT_EHLO_FALLBACK),
        ("ip-10-0-0-1.eu-west-1.compute.internal", DEFAULT_EHLO_FALLBACK),
        ("printer.local", DEFAULT_EHLO_FALLBACK),
        ("host.lan", DEFAULT_EHLO_FALLBACK),
        ("169.254.12.7", DEFAULT_EHLO_FALLBACK),
        ("under_score.example.com", DEFAULT_EHLO_FALLBACK),
        ("", DEFAULT_EHLO_FALLBACK),
    ],
)
def test_default_is_the_host_fqdn_only_when_it_is_one(hostname: str, expected: str) -> None:
    assert default_ehlo_name(hostname) == expected


def test_every_name_we_may_announce_by_default_is_a_real_looking_fqdn() -> None:
    for name in (DEFAULT_EHLO_FALLBACK, Settings().ehlo_name, *NEUTRAL_EHLO_NAMES):
        assert is_fqdn(name), name
    assert is_fqdn(default_ehlo_name())  # whatever this machine is called


def test_the_configured_name_is_authoritative() -> None:
    env = {"BANNERCHECK_EHLO_NAME": "mailprobe.example.org"}
    assert settings_from_env(env).ehlo_name == "mailprobe.example.org"
    assert is_fqdn(settings_from_env({}).ehlo_name)


@pytest.mark.parametrize(
    ("name", "owners", "inside"),
    [
        ("example.com", ["example.com"], True),
        ("EXAMPLE.com.", ["example.com"], True),
        ("probe.example.com", ["example.com"], True),
        ("probe.mx1.example.net", ["example.com", "mx1.example.net"], True),
        ("mx1.example.net", ["example.com", "mx1.example.net"], True),
        ("myexample.com", ["example.com"], False),
        ("example.com", ["probe.example.com"], False),  # a parent is not the target's own
        ("probe.example.org", ["example.com", "mx.example.net"], False),
        ("probe.example.org", ["", "example.com"], False),
    ],
)
def test_is_within(name: str, owners: list[str], inside: bool) -> None:
    assert is_within(name, owners) is inside


@pytest.mark.parametrize(
    ("configured", "owners", "announced"),
    [
        ("probe.bannercheck.test", ["example.com", "mx.example.com"], "probe.bannercheck.test"),
        ("example.com", ["example.com"], DEFAULT_EHLO_FALLBACK),
        ("probe.example.com", ["example.com", "mx.example.net"], DEFAULT_EHLO_FALLBACK),
        ("mx.example.net", ["example.com", "mx.example.net"], DEFAULT_EHLO_FALLBACK),
        # Checking the fallback's own domain: the next neutral name.
        (DEFAULT_EHLO_FALLBACK, ["example.net"], "bannercheck-probe.example.org"),
        ("x.example.net", ["example.net", "example.org"], "bannercheck-probe.example.com"),
        # Every neutral name ruled out by hostile DNS: still a name, never an exception.
        (
            "x.example.net",
            ["example.net", "example.org", "example.com"],
            NEUTRAL_EHLO_NAMES[-1],
        ),
    ],
)
def test_announced_name_is_never_the_targets_own(
    configured: str, owners: list[str], announced: str
) -> None:
    assert to_announced_ehlo_name(configured, owners) == announced
