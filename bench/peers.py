"""``python -m bench.peers CONFIG READY``: the test lab's scripted peers in their own process.

CONFIG (JSON, written by bench.lab) lists each peer with the certificate the
lab CA issued for it; READY is created once every peer listens. Runs until
SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

from tests.lab.peers import PeerServers
from tests.lab.pki import CertFiles, TlsKind
from tests.lab.spec import LabSpec, PeerSpec


class IssuedCerts:
    """Stands in for LabCA in this process: the parent already issued every certificate."""

    def __init__(self, files: dict[str, CertFiles]) -> None:
        self._files = files

    def issue(self, host: str, kind: TlsKind) -> CertFiles:
        return self._files[host]


def to_spec(config: dict[str, Any]) -> LabSpec:
    peers = tuple(
        PeerSpec(ip=p["ip"], host=p["host"], greeting=p["greeting"].encode(), tls=TlsKind.LAB_CA)
        for p in config["peers"]
    )
    return LabSpec(
        prefix=config["prefix"], domains={}, records=(), ptrs={}, peers=peers, postfix=()
    )


def main(argv: list[str]) -> int:
    config_file, ready = Path(argv[0]), Path(argv[1])
    config = json.loads(config_file.read_text())
    certs = {p["host"]: CertFiles(Path(p["cert"]), Path(p["key"])) for p in config["peers"]}
    # Block SIGTERM before the peers' thread starts, so only sigwait below receives it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    servers = PeerServers(to_spec(config), IssuedCerts(certs))  # type: ignore[arg-type]
    servers.start()
    ready.touch()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
