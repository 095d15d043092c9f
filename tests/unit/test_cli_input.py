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
        ["check", "example.com", "--timeout", "0"],
        ["check", "example.com", "--resolver", "dns.example"],
        ["check", "example.com", "--ehlo-name", "not a name"],
        ["check", "example.com", "--ca-file", "/nonexistent.pem"],
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
    assert err.strip().splitlines()[-1].startswith("bannercheck:")
