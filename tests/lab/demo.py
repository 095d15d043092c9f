"""``make demo``: start the lab, run the real CLI against a few lab domains, stop the lab.

python -m tests.lab.demo                      # the default handful
python -m tests.lab.demo tarpit.test nul.test # any lab domains
python -m tests.lab.demo --list               # what the lab has
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.lab import Lab, LabError
from tests.lab.lab import LOOPBACK_NETWORKS

DEFAULT_DOMAINS = ("good.test", "nullmx.test", "version.test", "selfsigned.test", "silent.test")
# The CLI's answers about a domain (pass, fail, inconclusive): what the demo is for.
# Anything else (2 usage, a crash, a signal) means the demo itself went wrong.
VERDICT_STATUSES = (0, 1, 3)


def _cli() -> list[str]:
    # The venv's entry point when it exists, else the module with this interpreter.
    script = Path(sys.executable).with_name("bannercheck")
    if script.exists():
        return [str(script)]
    found = shutil.which("bannercheck")
    return [found] if found else [sys.executable, "-m", "bannercheck.cli"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab.demo", description=__doc__)
    parser.add_argument("domains", nargs="*", default=list(DEFAULT_DOMAINS))
    parser.add_argument("--list", action="store_true", help="list the lab's domains and exit")
    parser.add_argument("--timeout", default="5", help="the CLI's --timeout (s)")
    args = parser.parse_args(argv)
    try:
        lab = Lab.start()
    except LabError as error:
        print(f"demo: the lab did not start: {error}", file=sys.stderr)
        return 2
    with lab:
        if args.list:
            for domain in lab.domains.values():
                print(f"{domain.name:20} {domain.description}")
            return 0
        unknown = [d for d in args.domains if d not in lab.domains]
        if unknown:
            print(f"demo: not lab domains: {', '.join(unknown)} (see --list)", file=sys.stderr)
            return 2
        print(f"lab on {lab.prefix}.0/24: DNS {lab.resolver}, CA {lab.ca_file}\n", flush=True)
        env = {**os.environ, "BANNERCHECK_CA_FILE": lab.ca_file}
        trouble = 0
        for domain in args.domains:
            command = [
                *_cli(),
                "check",
                "--resolver",
                lab.resolver,
                "--allow-private",
                *(f"--private-network={net}" for net in LOOPBACK_NETWORKS),
                "--ca-file",
                lab.ca_file,
                "--timeout",
                args.timeout,
                "--ehlo-name",
                "demo.bannercheck.test",
                domain,
            ]
            print(f"$ bannercheck check {domain}    # {lab.domains[domain].description}")
            print(flush=True)
            status = subprocess.run(command, env=env, check=False).returncode
            print(f"(exit status {status})\n", flush=True)
            if status not in VERDICT_STATUSES:
                trouble = trouble or (status if status > 0 else 1)
    return trouble


if __name__ == "__main__":
    sys.exit(main())
