"""The bench lab: Knot with N generated domains, 64 scripted peers, one Postfix.

Built from the test lab's parts (tests/lab): its Knot writer and process
management, its CA, its scripted peers and its Postfix, on a fresh random
127.A.B.0/24:

    127.A.B.1          Postfix (mx1.good.test): the real MTA of the single-domain measure
    127.A.B.53         Knot, authoritative for ``test.`` and the reverse zone
    127.A.B.100..163   64 scripted peers (greeting, EHLO, STARTTLS, EHLO, QUIT), one process

Domains (all under ``test.``, which the test lab's Knot writer serves):

    good.test                 MX mx1.good.test (Postfix)
    peer.test                 MX mx.peer.test (the first scripted peer)
    b<i>.bench.test           one MX host, spread over the 64 peers
    m<k>-<i>.bench.test       k MX hosts (k in MX_COUNTS), spread over the 64 peers

The peers run in their own process so the client under test does not share a
GIL with them; they still share the machine's cores with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.lab.knot import start_knot
from tests.lab.net import pick_prefix
from tests.lab.pki import LabCA, TlsKind
from tests.lab.postfix import Postfix, start_postfix
from tests.lab.process import LabError, Process, wait_for
from tests.lab.spec import LabSpec, PeerSpec, PostfixHost, Record

PEER_COUNT = 64
FIRST_PEER = 100
POSTFIX_OCTET = 1
MX_COUNTS = (1, 2, 4, 8, 16)
REPO = Path(__file__).resolve().parent.parent


def bulk_domain(i: int) -> str:
    return f"b{i}.bench.test"


def mx_domain(k: int, i: int) -> str:
    return f"m{k}-{i}.bench.test"


def peer_host(j: int) -> str:
    return f"p{j}.bench.test"


@dataclass(frozen=True)
class BenchSpec:
    prefix: str
    bulk: int  # how many b<i> domains
    per_mx_count: int  # how many m<k>-<i> domains for each k

    def peer_ip(self, j: int) -> str:
        return f"{self.prefix}.{FIRST_PEER + j % PEER_COUNT}"

    @property
    def peer_ips(self) -> list[str]:
        return [self.peer_ip(j) for j in range(PEER_COUNT)]

    @property
    def postfix_ip(self) -> str:
        return f"{self.prefix}.{POSTFIX_OCTET}"

    def bulk_ip(self, i: int) -> str:
        """The one address behind ``bulk_domain(i)``: what DNS-less clients connect to."""
        return self.peer_ip(i)


def to_lab_spec(bench: BenchSpec) -> LabSpec:
    """The test lab's LabSpec for the bench (records, PTRs, peers, Postfix)."""
    records: list[Record] = []
    ptrs: dict[str, str] = {}
    peers: list[PeerSpec] = []
    for j in range(PEER_COUNT):
        ip, host = bench.peer_ip(j), peer_host(j)
        records.append(Record(host, "A", ip))
        ptrs[ip] = host
        greeting = f"220 {host} ESMTP bench peer\r\n".encode()
        peers.append(PeerSpec(ip=ip, host=host, greeting=greeting, tls=TlsKind.LAB_CA))
    postfix = PostfixHost(bench.postfix_ip, "mx1.good.test")
    records += [
        Record("good.test", "MX", "10 mx1.good.test."),
        Record("mx1.good.test", "A", postfix.ip),
        Record("peer.test", "MX", "10 mx.peer.test."),
        Record("mx.peer.test", "A", bench.peer_ip(0)),
    ]
    ptrs[postfix.ip] = postfix.host
    for i in range(bench.bulk):
        name = bulk_domain(i)
        records.append(Record(name, "MX", f"10 mx.{name}."))
        records.append(Record(f"mx.{name}", "A", bench.bulk_ip(i)))
    for k in MX_COUNTS:
        for i in range(bench.per_mx_count):
            name = mx_domain(k, i)
            for m in range(k):
                records.append(Record(name, "MX", f"{10 + m} mx{m}.{name}."))
                records.append(Record(f"mx{m}.{name}", "A", bench.peer_ip(i * k + m)))
    return LabSpec(
        prefix=bench.prefix,
        domains={},
        records=tuple(records),
        ptrs=ptrs,
        peers=tuple(peers),
        postfix=(postfix,),
    )


class BenchLab:
    """Running servers of the bench; ``with BenchLab.start(...) as lab:``."""

    def __init__(self, bench: BenchSpec, directory: Path, ca: LabCA) -> None:
        self.bench = bench
        self.directory = directory
        self.ca = ca
        self.processes: list[Process] = []
        self.postfix: Postfix | None = None

    @classmethod
    def start(cls, *, bulk: int, per_mx_count: int, postfix: bool = True) -> BenchLab:
        bench = BenchSpec(prefix=pick_prefix(), bulk=bulk, per_mx_count=per_mx_count)
        directory = Path(tempfile.mkdtemp(prefix=f"bannercheck-bench-{bench.prefix}-"))
        directory.chmod(0o755)  # Postfix daemons drop to the postfix user
        lab = cls(bench, directory, LabCA(directory))
        try:
            spec = to_lab_spec(bench)
            lab.processes.append(start_peers(spec, lab.ca, directory / "peers"))
            lab.processes.append(start_knot(spec, directory / "knot"))
            if postfix:
                lab.postfix = start_postfix(spec, lab.ca, directory / "postfix")
        except BaseException:
            lab.stop()
            raise
        return lab

    @property
    def resolver(self) -> str:
        return f"{self.bench.prefix}.53"

    @property
    def ca_file(self) -> str:
        return str(self.ca.ca_file)

    def stop(self) -> None:
        if self.postfix is not None:
            with contextlib.suppress(Exception):
                self.postfix.stop()
            self.postfix = None
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop()
        self.processes.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> BenchLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_peers(spec: LabSpec, ca: LabCA, directory: Path, *, wait_s: float = 20.0) -> Process:
    """The scripted peers of ``spec`` in a child process (``python -m bench.peers``)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "prefix": spec.prefix,
        "peers": [
            {
                "ip": peer.ip,
                "host": peer.host,
                "greeting": peer.greeting.decode(),
                "cert": str((files := ca.issue(peer.host, peer.tls)).cert),
                "key": str(files.key),
            }
            for peer in spec.peers
        ],
    }
    config_file = directory / "peers.json"
    config_file.write_text(json.dumps(config))
    ready = directory / "ready"
    process = Process.start(
        "bench peers",
        [sys.executable, "-m", "bench.peers", str(config_file), str(ready)],
        directory / "peers.log",
        env=_child_env(),
    )

    def is_ready() -> bool:
        process.raise_if_exited()
        return ready.exists()

    try:
        wait_for(is_ready, wait_s, "the bench peers to listen")
    except LabError:
        process.stop()
        raise
    return process


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@contextlib.contextmanager
def running(*, bulk: int, per_mx_count: int, postfix: bool = True) -> Iterator[BenchLab]:
    lab = BenchLab.start(bulk=bulk, per_mx_count=per_mx_count, postfix=postfix)
    try:
        yield lab
    finally:
        lab.stop()
