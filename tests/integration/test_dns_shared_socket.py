"""The questions of one check share one UDP socket (dns.MultiplexedNameserver).

A scripted nameserver on loopback answers out of order and sends, before each
real answer, a datagram that carries the question's id but is not its answer
(garbage, then an answer to another question): every question still gets its
own answer, all of them over a single source port.
"""

from __future__ import annotations

import asyncio

import dns.message
import dns.rdatatype
import dns.rrset
from bannercheck.dns import Resolver
from bannercheck.model import DnsStatus
from bannercheck.settings import Settings


class _Scripted(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.sources: set[tuple[str, int]] = set()
        self.pending: list[tuple[dns.message.Message, tuple[str, int]]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sources.add(addr)
        self.pending.append((dns.message.from_wire(data), addr))
        if len(self.pending) == 3:
            self._answer_all_backwards()

    def _answer_all_backwards(self) -> None:
        assert self.transport is not None
        for query, addr in reversed(self.pending):
            name = query.question[0].name
            index = int(name.labels[0].decode().removeprefix("h"))
            # Our id, but not DNS at all; then our id with another question.
            self.transport.sendto(query.id.to_bytes(2, "big") + b"\xff" * 5, addr)
            other = dns.message.make_query("elsewhere.test.", dns.rdatatype.A)
            other.id = query.id
            self.transport.sendto(dns.message.make_response(other).to_wire(), addr)
            response = dns.message.make_response(query)
            response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", f"192.0.2.{index}"))
            self.transport.sendto(response.to_wire(), addr)
        self.pending.clear()


async def _ask_three() -> tuple[list[tuple[DnsStatus, tuple[str, ...]]], set[tuple[str, int]]]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(_Scripted, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    settings = Settings(resolver=f"127.0.0.1:{port}", dns_try_timeout_s=2.0)
    resolver = Resolver(settings, loop.time() + 5)
    try:
        lookups = await asyncio.gather(
            *(resolver.lookup(f"h{i}.shared.test", "A") for i in (1, 2, 3))
        )
    finally:
        resolver.close()
        transport.close()
    return [(lookup.status, lookup.records) for lookup in lookups], server.sources


def test_questions_share_a_socket_and_each_gets_its_own_answer() -> None:
    answers, sources = asyncio.run(_ask_three())
    assert answers == [
        (DnsStatus.OK, ("192.0.2.1",)),
        (DnsStatus.OK, ("192.0.2.2",)),
        (DnsStatus.OK, ("192.0.2.3",)),
    ]
    assert len(sources) == 1  # one source address and port for all three


class _StuckFirstPort(asyncio.DatagramProtocol):
    """Never answers the first source port it hears from, like a resolver whose
    SO_REUSEPORT worker for that flow is stuck; answers every other port."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.sources: list[tuple[str, int]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.sources.append(addr)
        if addr == self.sources[0]:
            return
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.answer.append(
            dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.7")
        )
        self.transport.sendto(response.to_wire(), addr)


async def _ask_past_a_stuck_port() -> tuple[DnsStatus, tuple[str, ...], list[tuple[str, int]]]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(
        _StuckFirstPort, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    settings = Settings(resolver=f"127.0.0.1:{port}", dns_try_timeout_s=0.2, dns_lifetime_s=3.0)
    resolver = Resolver(settings, loop.time() + 5)
    try:
        lookup = await resolver.lookup("retry.shared.test", "A")
    finally:
        resolver.close()
        transport.close()
    return lookup.status, lookup.records, server.sources


def test_a_question_that_timed_out_is_asked_again_from_a_new_port() -> None:
    status, records, sources = asyncio.run(_ask_past_a_stuck_port())
    assert (status, records) == (DnsStatus.OK, ("192.0.2.7",))
    assert len(sources) == 2 and sources[0] != sources[1]  # the retry left from a new port
