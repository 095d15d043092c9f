"""``python -m bench.checker DOMAIN_FILE ...``: bannercheck over a domain list, streamed.

What ``bannercheck check --json`` does when piped (check_domains, to_dict,
compact json.dumps per report, written as it completes), plus the settings the
CLI has no flag for (max MX hosts, sessions in flight) and a domain list read
from a file.
Prints "<sessions with TLS> <sessions> <reports>" at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from bannercheck.codec import to_dict
from bannercheck.model import Report, StepStatus
from bannercheck.scan import check_domains
from bannercheck.settings import Settings


def tls_sessions(report: Report) -> tuple[int, int]:
    """(sessions that completed STARTTLS and EHLO after it, sessions) of one report."""
    sessions = [a.session for h in report.dns.hosts for a in h.addresses if a.session]
    full = sum(
        1
        for s in sessions
        if s.status is StepStatus.OK and s.tls is not None and s.ehlo_tls is not None
    )
    return full, len(sessions)


async def run(domains: list[str], settings: Settings, concurrency: int, out: TextIO) -> str:
    full = total = reports = 0
    out.write("[\n")
    async for report in check_domains(domains, settings, max_domains=concurrency):
        out.write(("" if not reports else ",\n") + json.dumps(to_dict(report)))
        done, seen = tls_sessions(report)
        full, total, reports = full + done, total + seen, reports + 1
    out.write("\n]\n")
    return f"{full} {total} {reports}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checker")
    parser.add_argument("domains", type=Path)
    parser.add_argument("--resolver", required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--concurrency", type=int, default=64, help="domains at once")
    parser.add_argument("--sessions", type=int, default=64, help="sessions in flight")
    parser.add_argument("--max-mx", type=int, default=10)
    parser.add_argument("--out", default="/dev/null")
    args = parser.parse_args(argv)
    settings = Settings(
        resolver=args.resolver,
        allow_private=True,
        ca_file=args.ca_file,
        ehlo_name="probe.bannercheck.test",
        max_mx_hosts=args.max_mx,
        max_concurrency=args.sessions,
    )
    domains = args.domains.read_text().split()
    with open(args.out, "w") as out:
        print(asyncio.run(run(domains, settings, args.concurrency, out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
