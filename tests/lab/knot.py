"""Knot DNS, authoritative for every lab zone, in the foreground on 127.A.B.53."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from tests.lab.process import LabError, Process
from tests.lab.spec import SERVFAIL_ZONE, TIMEOUT_ZONE, LabSpec

# How long Knot waits for the silent server before giving up on timeout.test: far longer
# than any client's DNS budget in the tests, so the client sees a timeout, not SERVFAIL.
PROXY_TIMEOUT_MS = 30_000


def reverse_zone(prefix: str) -> str:
    a, b, c = prefix.split(".")
    return f"{c}.{b}.{a}.in-addr.arpa"


def _soa(zone: str) -> list[str]:
    return [
        f"$ORIGIN {zone}.",
        "$TTL 60",
        "@ SOA ns.test. hostmaster.test. 1 3600 600 86400 60",
        "@ NS ns.test.",
    ]


def to_forward_zone(spec: LabSpec) -> str:
    lines = _soa("test")
    lines.append(f"ns.test. A {spec.knot_ip}")
    lines += [f"{r.owner}. {r.rtype} {r.rdata}" for r in spec.records]
    return "\n".join(lines) + "\n"


def to_reverse_zone(spec: LabSpec) -> str:
    lines = _soa(reverse_zone(spec.prefix))
    for ip, name in sorted(spec.ptrs.items(), key=lambda item: int(item[0].rsplit(".", 1)[1])):
        lines.append(f"{ip.rsplit('.', 1)[1]} PTR {name}.")
    return "\n".join(lines) + "\n"


def to_config(spec: LabSpec, directory: Path) -> str:
    return f"""\
server:
    rundir: "{directory}/run"
    user: root:root
    listen: {spec.knot_ip}@53
    # timeout.test parks a worker for PROXY_TIMEOUT_MS: have plenty.
    udp-workers: 64
    tcp-workers: 8
    background-workers: 1

database:
    storage: "{directory}/db"

log:
  - target: stderr
    any: warning

remote:
  - id: silent
    address: {spec.silent_dns_ip}@53

mod-dnsproxy:
  - id: to-silent
    remote: silent
    timeout: {PROXY_TIMEOUT_MS}
    fallback: off

template:
  - id: default
    storage: "{directory}/zones"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off

zone:
  - domain: test.
  - domain: {reverse_zone(spec.prefix)}.
  - domain: {SERVFAIL_ZONE}.
    file: "{directory}/zones/does-not-exist.zone"
  - domain: {TIMEOUT_ZONE}.
    module: mod-dnsproxy/to-silent
"""


def start_knot(spec: LabSpec, directory: Path, *, wait_s: float = 10.0) -> Process:
    """Write the config and zones, start knotd, and return once it answers."""
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    if not Path(knotd).exists():
        raise LabError("knotd not found: run scripts/install-system-deps.sh")
    for sub in ("run", "db", "zones"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    zones = directory / "zones"
    (zones / "test.zone").write_text(to_forward_zone(spec))
    (zones / f"{reverse_zone(spec.prefix)}.zone").write_text(to_reverse_zone(spec))
    (zones / f"{TIMEOUT_ZONE}.zone").write_text("\n".join(_soa(TIMEOUT_ZONE)) + "\n")
    config = directory / "knot.conf"
    config.write_text(to_config(spec, directory))
    process = Process.start("knotd", [knotd, "--config", str(config)], directory / "knotd.log")
    _wait_until_answers(spec, process, wait_s)
    return process


def _wait_until_answers(spec: LabSpec, process: Process, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    query = dns.message.make_query("good.test.", dns.rdatatype.MX)
    while time.monotonic() < deadline:
        process.raise_if_exited()
        try:
            response = dns.query.udp(query, spec.knot_ip, timeout=0.2)
        except (dns.exception.Timeout, OSError):
            time.sleep(0.05)
            continue
        if response.rcode() == dns.rcode.NOERROR and response.answer:
            return
        time.sleep(0.05)
    process.stop()
    raise LabError(f"knotd did not answer on {spec.knot_ip} within {wait_s} s:\n{process.tail()}")
