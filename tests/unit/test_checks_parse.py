"""The greeting-domain parser: examples and properties (RFC 5321 §4.3.1 / §4.1.2)."""

from __future__ import annotations

import pytest
from bannercheck.checks.parse import (
    is_address_literal,
    is_domain,
    is_fqdn,
    to_greeting_domain,
    to_greeting_text,
)
from bannercheck.model import Reply
from bannercheck.replies import to_reply
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.unit.builders import reply

LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True)
DOMAIN = (
    st.lists(LABEL, min_size=1, max_size=5)
    .map(".".join)
    .filter(lambda d: d.upper() not in {"ESMTP", "SMTP", "LMTP"})
)
# textstring = 1*(%d09 / %d32-126); a leading space is the separator.
TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["220 mx.example.com ESMTP Postfix"], "mx.example.com"),
        (["220 mx.example.com"], "mx.example.com"),
        (["220-mx.example.com ESMTP", "220 ready"], "mx.example.com"),
        (["220 [192.0.2.1] ESMTP"], "[192.0.2.1]"),
        (["220 [IPv6:2001:db8::1] ESMTP"], "[IPv6:2001:db8::1]"),
        (["220 ESMTP Postfix"], None),
        (["220 esmtp ready"], None),
        (["220"], None),
        (["220 "], None),
        (["220  mx.example.com double space"], None),
        (["220 mx_1.example.com"], None),
        (["220 -mx.example.com"], None),
        (["220 mx-.example.com"], None),
        (["220 mx.example.com."], None),
        (["220 [999.1.1.1]"], None),
        (["220 [IPv6:nonsense]"], None),
        (["hello there"], None),
    ],
)
def test_examples(lines: list[str], expected: str | None) -> None:
    assert to_greeting_domain(reply(*lines)) == expected


def test_reply_without_texts_uses_lines() -> None:
    bare = Reply(code=220, lines=("220 mx.example.com ESMTP",))
    assert to_greeting_domain(bare) == "mx.example.com"
    assert to_greeting_text(bare) == "ESMTP"


@given(DOMAIN, TEXT)
def test_domain_and_text_round_trip(domain: str, text: str) -> None:
    line = f"220 {domain}" + (f" {text}" if text else "")
    parsed = reply(line)
    assert to_greeting_domain(parsed) == domain
    assert to_greeting_text(parsed) == text


@given(DOMAIN, TEXT, st.lists(TEXT, max_size=3))
def test_multiline_domain_is_on_the_first_line(domain: str, text: str, more: list[str]) -> None:
    lines = [f"220-{domain} {text}"] + [f"220-{m}" for m in more] + ["220 end"]
    assert to_greeting_domain(reply(*lines)) == domain


@given(st.ip_addresses(v=4), TEXT)
def test_ipv4_literal(ip: object, text: str) -> None:
    assert to_greeting_domain(reply(f"220 [{ip}] {text}")) == f"[{ip}]"


@given(st.ip_addresses(v=6))
def test_ipv6_literal(ip: object) -> None:
    literal = f"[IPv6:{ip}]"
    assert is_address_literal(literal)
    assert to_greeting_domain(reply(f"220 {literal} ESMTP")) == literal


@given(DOMAIN, st.sampled_from("_!@#$%^&*()+=~/\\,;:'\""), st.integers(0, 30))
def test_a_forbidden_character_anywhere_means_no_domain(domain: str, bad: str, at: int) -> None:
    at = at % (len(domain) + 1)
    token = domain[:at] + bad + domain[at:]
    assert to_greeting_domain(reply(f"220 {token} ESMTP")) is None


@given(st.lists(st.binary(max_size=80), min_size=1, max_size=4))
def test_never_raises_and_returns_valid_syntax(raw: list[bytes]) -> None:
    parsed = to_reply(raw)
    domain = to_greeting_domain(parsed)
    assert domain is None or is_domain(domain) or is_address_literal(domain)
    to_greeting_text(parsed)


@given(DOMAIN)
def test_fqdn_needs_two_labels(domain: str) -> None:
    assume(not domain.rsplit(".", 1)[-1].isdigit())
    lowered = domain.lower()
    local = lowered.endswith((".local", ".localdomain", ".lan", ".home", ".internal", ".localhost"))
    local = local or lowered.startswith("localhost.")
    assert is_fqdn(domain) is ("." in domain and not local)


@pytest.mark.parametrize(
    ("name", "fqdn"),
    [
        ("mx.example.com", True),
        ("MX.Example.COM", True),
        ("mailhost", False),
        ("localhost", False),
        ("localhost.localdomain", False),
        ("exch01.corp.local", False),
        ("192.0.2.1", False),
        ("mx.example.com.", True),
    ],
)
def test_fqdn_examples(name: str, fqdn: bool) -> None:
    assert is_fqdn(name) is fqdn
