"""The lab: real DNS and SMTP servers on a private random 127.A.B.0/24.

    with Lab.start() as lab:
        settings = lab.settings()       # resolver, ca_file, allow_private, short timeouts
        lab.ip("mx1.good.test")         # "127.A.B.1"
        lab.connections(lab.ip("mx.silent.test"))

Stopping kills every process the lab started and removes its temp dir; an atexit
hook does the same if a test run dies without stopping it.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import shutil
import signal
import tempfile
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tests.lab import leftovers
from tests.lab.knot import start_knot
from tests.lab.net import pick_prefix
from tests.lab.peers import PeerServers
from tests.lab.pki import LabCA
from tests.lab.postfix import Postfix, start_postfix
from tests.lab.process import LabError, Process
from tests.lab.spec import LabDomain, LabSpec, build_spec

if TYPE_CHECKING:
    from bannercheck.settings import Settings

__all__ = ["LOOPBACK_NETWORKS", "Lab", "LabDomain", "LabError"]

# Where the lab's servers are, and so the only non-public networks a lab run may reach.
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


class Lab:
    """A running lab. Create it with ``Lab.start()``; stop it with ``stop()`` or ``with``."""

    def __init__(self, spec: LabSpec, directory: Path, ca: LabCA) -> None:
        self.spec = spec
        self.directory = directory
        self._ca = ca
        self.peers: PeerServers | None = None
        self.knot: Process | None = None
        self.postfix: Postfix | None = None
        self._stopped = threading.Event()

    # --- life cycle ------------------------------------------------------------
    @classmethod
    def start(
        cls,
        *,
        prefix: str | None = None,
        slow_greeting_s: float = 1.5,
        tarpit_byte_s: float = 1.0,
        postfix: bool = True,
    ) -> Lab:
        """Start every server on a free random /24 (or ``prefix``, e.g. "127.42.7")."""
        leftovers.sweep()
        _exit_on_sigterm()
        attempts = 1 if prefix else 3
        for attempt in range(attempts):
            try:
                return cls._start_on(
                    prefix or pick_prefix(),
                    slow_greeting_s=slow_greeting_s,
                    tarpit_byte_s=tarpit_byte_s,
                    postfix=postfix,
                )
            except LabError:
                # Someone may have taken an address of "our" /24 since we looked.
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _start_on(
        cls, prefix: str, *, slow_greeting_s: float, tarpit_byte_s: float, postfix: bool
    ) -> Lab:
        spec = build_spec(prefix, slow_greeting_s=slow_greeting_s, tarpit_byte_s=tarpit_byte_s)
        directory = Path(tempfile.mkdtemp(prefix=f"{leftovers.DIR_PREFIX}{prefix}-"))
        directory.chmod(0o755)  # Postfix daemons drop to the postfix user
        leftovers.record_owner(directory)
        lab = cls(spec, directory, LabCA(directory))
        _live.add(lab)
        try:
            lab.peers = PeerServers(spec, lab._ca)
            lab.peers.start()  # first: Knot forwards timeout.test to the silent nameserver
            lab.knot = start_knot(spec, directory / "knot")
            leftovers.record_child(directory, lab.knot.pid)
            if postfix:
                lab.postfix = start_postfix(spec, lab._ca, directory / "postfix")
                leftovers.record_child(directory, lab.postfix.process.pid)
        except BaseException:
            lab.stop()
            raise
        return lab

    def stop(self) -> None:
        """Stop every server and remove the temp dir. Safe to call twice."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.postfix is not None:
            with contextlib.suppress(Exception):
                self.postfix.stop()
        if self.knot is not None:
            # Nothing to save, and a worker parked on timeout.test would hold SIGTERM up.
            with contextlib.suppress(Exception):
                self.knot.stop(grace_s=0.3)
        if self.peers is not None:
            with contextlib.suppress(Exception):
                self.peers.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        _live.discard(self)

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what tests use ------------------------------------------------------
    @property
    def prefix(self) -> str:
        """``127.A.B``: the lab's /24 without the last octet."""
        return self.spec.prefix

    @property
    def resolver(self) -> str:
        """The authoritative Knot server for every lab zone (port 53)."""
        return self.spec.knot_ip

    @property
    def silent_resolver(self) -> str:
        """A nameserver that never answers (UDP dropped, TCP held open): every query times out."""
        return self.spec.silent_dns_ip

    @property
    def refused_ip(self) -> str:
        """A lab address where nothing listens: TCP connections are refused."""
        return self.spec.refused_ip

    @property
    def ca_file(self) -> str:
        """PEM of the lab CA that issued the Postfix and peer certificates."""
        return str(self._ca.ca_file)

    @property
    def domains(self) -> Mapping[str, LabDomain]:
        return self.spec.domains

    def ip(self, name: str) -> str:
        """The (first) address behind a lab name, e.g. ``lab.ip("mx1.good.test")``."""
        addresses = self.spec.addresses(name)
        if not addresses:
            raise KeyError(f"no A/AAAA record for {name!r} in the lab")
        return addresses[0]

    def addresses(self, name: str) -> tuple[str, ...]:
        return self.spec.addresses(name)

    def peer_ips(self) -> tuple[str, ...]:
        """Every lab address with an SMTP server on port 25 (Postfix and scripted peers)."""
        return tuple(h.ip for h in self.spec.postfix) + tuple(p.ip for p in self.spec.peers)

    def connections(self, ip: str) -> int:
        """TCP connections accepted so far by the server on ``ip`` port 25.

        Exact for scripted peers; for Postfix it counts smtpd's "connect from" log lines,
        which land a few milliseconds after the connection.
        """
        if self.peers is not None and self.peers.serves(ip):
            return self.peers.connections(ip)
        if self.postfix is not None and any(h.ip == ip for h in self.spec.postfix):
            return self.postfix.connections()[ip]
        raise KeyError(f"no lab SMTP server on {ip}")

    def take_peak(self, ip: str) -> int:
        """Most sessions the scripted peer on ``ip`` had open at once since the last call."""
        if self.peers is None or not self.peers.serves(ip):
            raise KeyError(f"no scripted peer on {ip}")
        return self.peers.take_peak(ip)

    def early_talkers(self, ip: str) -> list[bool]:
        """Per paced greeting (paced.test) sent from ``ip``: did the client talk early?"""
        if self.peers is None or not self.peers.serves(ip):
            raise KeyError(f"no scripted peer on {ip}")
        return self.peers.early_talkers(ip)

    def settings(self, **changes: Any) -> Settings:
        """bannercheck Settings pointed at the lab, with short timeouts; override any field."""
        from bannercheck.settings import Settings

        base: dict[str, Any] = {
            "resolver": self.resolver,
            "allow_private": True,
            # The lab is on loopback: a lab run never reaches further, even for the
            # DNS answers that name 10.0.0.1 or 169.254.169.254 (nonpublic.test).
            "private_networks": LOOPBACK_NETWORKS,
            "ca_file": self.ca_file,
            "ehlo_name": "probe.bannercheck.test",
            "timeout_s": 10.0,
            # Generous enough for a busy CI machine; DNS timeouts have their own tests.
            "dns_try_timeout_s": 1.0,
            "dns_lifetime_s": 3.0,
            "connect_timeout_s": 2.0,
            "command_timeout_s": 2.0,
        }
        # Only fields this version of Settings has: the engine evolves beside the lab.
        known = {f.name for f in dataclasses.fields(Settings)}
        base = {k: v for k, v in base.items() if k in known}
        base.update(changes)
        return Settings(**base)


def _exit_on_sigterm() -> None:
    """Make SIGTERM unwind (``with`` blocks, atexit) instead of killing outright.

    Only when nobody chose a SIGTERM handler, and only from the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_exit)


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# Labs not yet stopped: the atexit backstop for a run that never reached stop().
_live: weakref.WeakSet[Lab] = weakref.WeakSet()


@atexit.register
def _stop_live_labs() -> None:
    for lab in list(_live):
        with contextlib.suppress(Exception):
            lab.stop()
