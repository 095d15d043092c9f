import re

import pytest
from bannercheck.netpolicy import is_public, may_connect


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.255.0.9",
        "::1",
        "::ffff:127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "fd00::1",
        "fe80::1",
        "fe80::1%eth0",
        "224.0.0.1",
        "ff02::1",
        "0.0.0.0",
        "::",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.10",
        "2001:db8::25",
        "198.18.0.1",
        "64:ff9b::a00:1",  # NAT64 form of 10.0.0.1
        "2002:a00:1::1",  # 6to4 form of 10.0.0.1
        "not-an-ip",
    ],
)
def test_not_public(ip: str) -> None:
    assert not is_public(ip)
    assert not may_connect(ip, allow_private=False)


@pytest.mark.parametrize("ip", ["8.8.8.8", "193.0.6.139", "2606:4700::1111", "2a00:1450::1b"])
def test_public(ip: str) -> None:
    assert is_public(ip)
    assert may_connect(ip, allow_private=False)


def test_labs_may_allow_private() -> None:
    assert may_connect("127.0.0.1", allow_private=True)


LAB = ("127.0.0.0/8", "::1/128")


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.200.3.4", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # the IPv4-mapped form of a lab address
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("not-an-ip", False),
        ("8.8.8.8", True),  # public addresses are never the question
    ],
)
def test_private_networks_narrow_what_allow_private_lets_through(ip: str, allowed: bool) -> None:
    assert may_connect(ip, True, LAB) is allowed
    # Without allow_private the list changes nothing: non-public stays refused.
    assert may_connect(ip, False, LAB) is is_public(ip)


def test_a_bad_network_is_an_error_naming_it() -> None:
    from bannercheck.settings import settings_from_env

    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        settings_from_env({"BANNERCHECK_PRIVATE_NETWORKS": "127.0.0.0/8, 10.0.0.0/33"})
    settings = settings_from_env(
        {"BANNERCHECK_ALLOW_PRIVATE": "1", "BANNERCHECK_PRIVATE_NETWORKS": "127.0.0.0/8, ::1/128"}
    )
    assert settings.allow_private and settings.private_networks == ("127.0.0.0/8", "::1/128")
