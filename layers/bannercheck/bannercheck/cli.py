"""``bannercheck check DOMAIN ...`` — the command-line front end.

Exit status: 0 nothing failed and nothing inconclusive, 1 something failed,
3 nothing failed but a check was inconclusive, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from collections.abc import Sequence

from bannercheck import __version__
from bannercheck.codec import to_dict
from bannercheck.dns import parse_resolver
from bannercheck.domain import Domain, DomainError, to_domain
from bannercheck.model import Verdict
from bannercheck.netpolicy import to_networks
from bannercheck.render.terminal import to_text
from bannercheck.report import EXIT_USAGE, exit_code
from bannercheck.scan import check_domains
from bannercheck.settings import Settings, default_ehlo_name


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"bannercheck: {message}\n")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    # float() also reads "inf" and "nan": neither is a deadline.
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        # 0 would check nothing and still exit 0, as if every domain passed.
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _resolver(text: str) -> str:
    try:
        parse_resolver(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not ADDR[:PORT]") from None
    return text


def _network(text: str) -> str:
    try:
        to_networks((text,))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bannercheck", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"bannercheck {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = sub.add_parser("check", help="check the mail servers of one or more domains")
    check.add_argument("domains", nargs="+", metavar="DOMAIN")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--timeout", type=_positive, default=30.0, help="overall deadline per domain (s)"
    )
    check.add_argument("--resolver", type=_resolver, help="send every DNS query to ADDR[:PORT]")
    check.add_argument(
        "--allow-private",
        action="store_true",
        help="allow connections to non-public addresses (labs only)",
    )
    check.add_argument(
        "--private-network",
        action="append",
        type=_network,
        default=[],
        metavar="CIDR",
        help="with --allow-private: only non-public addresses in CIDR (repeatable)",
    )
    check.add_argument("--ehlo-name", help="name to announce in EHLO (default: this host's FQDN)")
    check.add_argument("--port", type=int, default=25, help=argparse.SUPPRESS)
    check.add_argument("--ca-file", help="extra trusted CA certificates (PEM), for labs")
    check.add_argument(
        "--concurrency", type=_positive_int, default=32, help="domains checked at once (default 32)"
    )
    return parser


def _ehlo_name(value: str | None) -> str:
    name = value or os.environ.get("BANNERCHECK_EHLO_NAME") or default_ehlo_name()
    try:
        return to_domain(name).ascii
    except DomainError as exc:
        raise DomainError(f"--ehlo-name: {exc}") from None


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        timeout_s=args.timeout,
        resolver=args.resolver,
        # A network list alone means private addresses are wanted, but only those.
        allow_private=args.allow_private or bool(args.private_network),
        private_networks=tuple(args.private_network),
        ehlo_name=_ehlo_name(args.ehlo_name),
        smtp_port=args.port,
        ca_file=args.ca_file or os.environ.get("BANNERCHECK_CA_FILE") or None,
    )


async def _run(domains: list[Domain], settings: Settings, args: argparse.Namespace) -> int:
    """Print each report as it completes (memory stays flat for long lists)."""
    tty = sys.stdout.isatty()
    colour = tty and not os.environ.get("NO_COLOR")
    verdicts: list[Verdict] = []
    # The shape follows what was asked, not what is left after removing
    # duplicates: several DOMAIN arguments always give a list.
    many = len(args.domains) > 1
    if args.json and many:
        sys.stdout.write("[\n")
    async for report in check_domains(domains, settings, max_domains=args.concurrency):
        if args.json:
            # Indented for a person at a terminal; compact (and several times
            # faster to encode) when piped to another program.
            text = json.dumps(to_dict(report), indent=2 if tty else None)
            sys.stdout.write(("" if not verdicts else ",\n") + text if many else text + "\n")
        else:
            sys.stdout.write(("\n" if verdicts else "") + to_text(report, colour=colour) + "\n")
        sys.stdout.flush()
        verdicts.append(report.verdict)  # not the report: memory stays flat
    if args.json and many:
        sys.stdout.write("\n]\n")
    return exit_code(verdicts)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        domains = list(dict.fromkeys(to_domain(text) for text in args.domains))
        settings = _settings(args)
    except DomainError as exc:
        print(f"bannercheck: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.ca_file and not os.path.isfile(args.ca_file):
        print(f"bannercheck: --ca-file {args.ca_file!r} is not a file", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_run(domains, settings, args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
