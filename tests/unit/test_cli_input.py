"""Bad input: a one-line message on stderr and exit 2, never a traceback."""

import pytest
from bannercheck.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["check", ""],
        ["check", "https://example.com"],
        ["check", "postmaster@example.com"],
        ["check", "192.0.2.1"],
        ["check", "a" * 64 + ".com"],
        ["check", "-bad-.com"],
        ["check", "a." * 127 + "com"],  # 257 octets: over 253
        ["check", ("a" * 63 + ".") * 3 + "a" * 62 + ".com"],  # 259 octets in 63-octet labels
        ["check", "exa mple.com"],
        ["check", "ex_ample.com"],
        ["check", "ex!ample.com"],
        ["check", "a\x00b.com"],
        ["check", "example..com"],
        ["check", ".example.com"],
        ["check", "example.com", "..."],
        ["check", "example.com", "--timeout", "0"],
        ["check", "example.com", "--timeout", "-1"],
        ["check", "example.com", "--timeout", "inf"],
        ["check", "example.com", "--timeout", "nan"],
        ["check", "example.com", "--timeout", "soon"],
        ["check", "example.com", "--concurrency", "0"],
        ["check", "example.com", "--concurrency", "-4"],
        ["check", "example.com", "--concurrency", "1.5"],
        ["check", "example.com", "--concurrency", "many"],
        ["check", "example.com", "--resolver", "dns.example"],
        ["check", "example.com", "--ehlo-name", "not a name"],
        ["check", "example.com", "--ca-file", "/nonexistent.pem"],
        ["check", "example.com", "--private-network", "10.0.0.0/33"],
        ["check", "example.com", "--private-network", "loopback"],
        ["check"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code  # argparse exits itself
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("bannercheck:") or err.startswith("usage:")
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bannercheck:"), err
