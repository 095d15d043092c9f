"""Scripted SMTP peers and the silent nameserver: asyncio servers in one background thread.

Well-behaved peers follow RFC 5321 closely enough for a prober (greeting, EHLO, HELO,
STARTTLS, NOOP, RSET, QUIT); misbehaving ones do exactly one wrong thing each
(spec.Mode). Every peer counts the connections it accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import struct
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from tests.lab.pki import LabCA, TlsKind
from tests.lab.process import LabError
from tests.lab.spec import LabSpec, Mode, PeerSpec

_LINE_LIMIT = 1 << 16  # what a peer accepts from a client per line
_GARBAGE = bytes(range(0x80, 0x100)) * 4  # no CR or LF anywhere


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class _Session:
    """One SMTP session of a scripted peer."""

    def __init__(
        self,
        peer: PeerSpec,
        tls: ssl.SSLContext | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        note_early: Callable[[bool], None] = lambda early: None,
    ) -> None:
        self.peer = peer
        self.tls = tls
        self.reader = reader
        self.writer = writer
        self.in_tls = False
        self.note_early = note_early  # PACED_GREETING: did the client speak too soon?

    async def run(self) -> None:
        mode = self.peer.mode
        if mode is Mode.SILENT:
            await self._until_client_closes()
            return
        if mode is Mode.GARBAGE:
            await self._send(_GARBAGE)
            return
        if mode is Mode.ENDLESS:
            await self._endless()
            return
        if mode is Mode.PACED_GREETING:
            await self._commands(await self._paced_greeting())
            return
        if mode is Mode.TARPIT:
            for byte in self.peer.greeting:
                await self._send(bytes([byte]))
                await asyncio.sleep(self.peer.delay_s)
        else:
            if self.peer.delay_s:
                await asyncio.sleep(self.peer.delay_s)
            await self._send(self.peer.greeting)
        if mode is Mode.GREET_AND_CLOSE:
            return
        if mode is Mode.NO_READ:
            await asyncio.Event().wait()  # until the lab stops
        await self._commands()

    async def _paced_greeting(self) -> bytes:
        """The greeting one line at a time; returns what the client sent meanwhile.

        RFC 5321 §4.3.1: the client waits for the whole greeting. A read of one
        byte runs during the pauses: if it finished before the final line was sent,
        the client spoke (or hung up) too early. The byte is handed back to the
        command loop, so nothing the client said is lost.
        """
        first = asyncio.ensure_future(self.reader.read(1))
        *head, last = self.peer.greeting.splitlines(keepends=True)
        try:
            for line in head:
                await self._send(line)
                await asyncio.sleep(self.peer.delay_s)
            self.note_early(first.done())
            await self._send(last)
            return await first
        finally:
            first.cancel()

    async def _send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def _reply(self, *lines: str) -> None:
        code, texts = lines[0][:3], [line[4:] for line in lines]
        out = [f"{code}-{text}\r\n" for text in texts[:-1]] + [f"{code} {texts[-1]}\r\n"]
        await self._send("".join(out).encode())

    async def _until_client_closes(self) -> None:
        while await self.reader.read(4096):
            pass

    async def _endless(self) -> None:
        line = f"220-{self.peer.host} this greeting never ends\r\n".encode()
        while True:
            await self._send(line * 50)
            await asyncio.sleep(0)  # let the other peers run

    def _ehlo_lines(self) -> list[str]:
        lines = [f"250 {self.peer.host} greets you", "250 PIPELINING", "250 SIZE 10240000"]
        lines += [f"250 {keyword}" for keyword in self.peer.extensions]
        offer_tls = self.tls is not None and (not self.in_tls or self.peer.readvertise_starttls)
        if offer_tls:
            lines.append("250 STARTTLS")
        return [*lines, "250 ENHANCEDSTATUSCODES", "250 8BITMIME"]

    async def _commands(self, pending: bytes = b"") -> None:
        """The command loop; ``pending`` is the start of the first line, already read."""
        mode = self.peer.mode
        while True:
            try:
                raw = pending + await self.reader.readuntil(b"\n")
                pending = b""
            except asyncio.IncompleteReadError:
                return
            except asyncio.LimitOverrunError:
                await self._reply("500 5.5.6 Line too long")
                return
            line = raw.decode("utf-8", "replace").strip()
            verb = line.split(" ", 1)[0].upper()
            if mode is Mode.REJECTED and verb != "QUIT":
                await self._reply("503 5.5.1 Bad sequence of commands: no service here")
            elif verb == "EHLO":
                if mode is Mode.HELO_ONLY:
                    await self._reply("502 5.5.2 Error: command not recognized")
                elif mode is Mode.RESET_IN_EHLO:
                    await self._send(f"250-{self.peer.host}\r\n".encode())
                    self._reset()
                    return
                else:
                    await self._reply(*self._ehlo_lines())
            elif verb == "HELO":
                await self._reply(f"250 {self.peer.host}")
            elif verb == "STARTTLS":
                if self.tls is None or self.in_tls:
                    await self._reply("502 5.5.1 STARTTLS not available")
                    continue
                await self._reply("220 2.0.0 Ready to start TLS")
                if mode is Mode.TLS_GARBAGE:
                    await self._send(_GARBAGE)
                    return
                await self.writer.start_tls(self.tls)
                self.in_tls = True
            elif verb == "QUIT":
                if mode is Mode.NEVER_CLOSE:
                    continue
                await self._reply("221 2.0.0 Bye")
                return
            elif verb in ("NOOP", "RSET"):
                await self._reply("250 2.0.0 Ok")
            elif verb == "VRFY" and "VRFY" in self.peer.extensions:
                await self._reply("252 2.0.0 Cannot VRFY user, but will accept message")
            elif verb == "MAIL":
                await self._reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                await self._reply("554 5.7.1 Relay access denied (a lab peer delivers nothing)")
            elif verb == "DATA":
                await self._reply("554 5.5.1 Error: no valid recipients")
            else:
                await self._reply("502 5.5.2 Error: command not recognized")

    def _reset(self) -> None:
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


class _SilentDns(asyncio.DatagramProtocol):
    """Receives queries and answers none of them."""

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        pass


class PeerServers:
    """The scripted peers and the silent nameserver, on an event loop in a thread."""

    def __init__(self, spec: LabSpec, ca: LabCA) -> None:
        self.spec = spec
        self._contexts = {peer.ip: self._context_for(peer, ca) for peer in spec.peers}
        self._counts: Counter[str] = Counter()
        self._active: Counter[str] = Counter()  # sessions open right now
        self._peaks: Counter[str] = Counter()  # most open at once since the last take_peak
        self._early: dict[str, list[bool]] = {}  # PACED_GREETING: per session, early or not
        self._counts_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="lab-peers", daemon=True
        )
        self._servers: list[asyncio.AbstractServer] = []
        self._transports: list[asyncio.BaseTransport] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def _context_for(peer: PeerSpec, ca: LabCA) -> ssl.SSLContext | None:
        if peer.tls is TlsKind.NONE:
            return None
        files = ca.issue(peer.host, peer.tls)
        return _server_context(files.cert, files.key)

    def start(self) -> None:
        self._thread.start()
        try:
            self._call(self._start_all(), timeout=15)
        except BaseException:
            self.stop()
            raise

    def connections(self, ip: str) -> int:
        with self._counts_lock:
            return self._counts[ip]

    def take_peak(self, ip: str) -> int:
        """The most sessions ``ip`` had open at once since the last call (then restarts)."""
        with self._counts_lock:
            peak = self._peaks[ip]
            self._peaks[ip] = self._active[ip]
            return peak

    def early_talkers(self, ip: str) -> list[bool]:
        """For each paced greeting ``ip`` sent: did the client send anything before its end?"""
        with self._counts_lock:
            return list(self._early.get(ip, ()))

    def serves(self, ip: str) -> bool:
        return ip in self._contexts

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._stop_all(), timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, None], timeout: float) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _start_all(self) -> None:
        for peer in self.spec.peers:
            try:
                server = await asyncio.start_server(
                    functools.partial(self._accept, peer),
                    host=peer.ip,
                    port=25,
                    reuse_address=True,
                    limit=_LINE_LIMIT,
                )
            except OSError as error:
                raise LabError(f"cannot listen on {peer.ip}:25 ({peer.host}): {error}") from None
            self._servers.append(server)
        ip = self.spec.silent_dns_ip
        try:
            transport, _ = await self._loop.create_datagram_endpoint(
                _SilentDns, local_addr=(ip, 53), reuse_port=False
            )
            self._transports.append(transport)
            self._servers.append(
                await asyncio.start_server(self._hold_tcp, host=ip, port=53, reuse_address=True)
            )
        except OSError as error:
            raise LabError(f"cannot listen on {ip}:53 (silent nameserver): {error}") from None

    async def _stop_all(self) -> None:
        for server in self._servers:
            server.close()
        for transport in self._transports:
            transport.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _accept(
        self, peer: PeerSpec, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._track()
        ip = peer.ip
        with self._counts_lock:
            self._counts[ip] += 1
            self._active[ip] += 1
            self._peaks[ip] = max(self._peaks[ip], self._active[ip])

        def note_early(early: bool) -> None:
            with self._counts_lock:
                self._early.setdefault(ip, []).append(early)

        session = _Session(peer, self._contexts[ip], reader, writer, note_early)
        try:
            await session.run()
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
            pass  # the client went away or broke TLS: its business, not the peer's
        finally:
            writer.close()
            with self._counts_lock:
                self._active[ip] -= 1

    async def _hold_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        try:
            while await reader.read(4096):
                pass
        except OSError:
            pass
        finally:
            writer.close()
