import asyncio

import pytest
from bannercheck.model import EhloKeyword
from bannercheck.replies import ReplyReader, ReplyTooLargeError, to_keywords, to_reply, to_text
from bannercheck.settings import Settings
from hypothesis import given
from hypothesis import strategies as st


def test_multiline_greeting_is_one_reply() -> None:
    reply = to_reply([b"220-mx.example.com ESMTP", b"220-policy text", b"220 ready"])
    assert reply.code == 220
    assert reply.multiline and reply.well_formed
    assert reply.texts == ("mx.example.com ESMTP", "policy text", "ready")


@pytest.mark.parametrize(
    ("lines", "well_formed"),
    [
        ([b"220 ok"], True),
        ([b"220"], True),
        ([b"220-a", b"250 b"], False),  # codes differ
        ([b"220-a"], False),  # continuation never finished
        ([b"220 a", b"220 b"], False),  # final separator before the end
        ([b"hello"], False),
        ([b"2200 x"], False),
    ],
)
def test_well_formedness(lines: list[bytes], well_formed: bool) -> None:
    assert to_reply(lines).well_formed is well_formed


def test_non_ascii_and_nul_are_escaped_and_flagged() -> None:
    text, odd = to_text(b"220 h\xc3\xa9llo\x00")
    assert text == "220 h\\xc3\\xa9llo\\x00"
    assert odd


@given(st.binary(max_size=200))
def test_to_text_is_printable_ascii(raw: bytes) -> None:
    text, odd = to_text(raw)
    assert text.isascii() and all(c == "\t" or 0x20 <= ord(c) < 0x7F for c in text)
    assert odd == any(not (0x20 <= b < 0x7F or b == 9) for b in raw)


def test_keywords_are_parsed_not_substring_matched() -> None:
    reply = to_reply(
        [
            b"250-mx.example.com says STARTTLS in its greeting text",
            b"250-SIZE 35882577",
            b"250-auth PLAIN LOGIN",
            b"250-X-NOT-STARTTLS",
            b"250 8BITMIME",
        ]
    )
    keywords = to_keywords(reply)
    assert keywords == (
        EhloKeyword("SIZE", ("35882577",)),
        EhloKeyword("AUTH", ("PLAIN", "LOGIN")),
        EhloKeyword("X-NOT-STARTTLS"),
        EhloKeyword("8BITMIME"),
    )
    assert "STARTTLS" not in {k.keyword for k in keywords}


_KW = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,15}", fullmatch=True)


@given(
    st.lists(
        st.tuples(_KW, st.lists(_KW, max_size=3)), max_size=10, unique_by=lambda t: t[0].upper()
    )
)
def test_keywords_round_trip(entries: list[tuple[str, list[str]]]) -> None:
    lines = [b"mx.example.com"] + [" ".join([k, *p]).encode() for k, p in entries]
    raw = [b"250-" + line for line in lines[:-1]] + [b"250 " + lines[-1]]
    keywords = to_keywords(to_reply(raw))
    assert keywords == tuple(EhloKeyword(k.upper(), tuple(p)) for k, p in entries)


async def _read(data: bytes, settings: Settings) -> object:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return await ReplyReader(reader, settings).read_reply()


def test_reader_caps_line_length() -> None:
    with pytest.raises(ReplyTooLargeError):
        asyncio.run(_read(b"220 " + b"x" * 10_000 + b"\r\n", Settings(max_line_bytes=512)))


def test_reader_caps_number_of_lines() -> None:
    data = b"".join(b"220-line %d\r\n" % i for i in range(1000))
    reply = asyncio.run(_read(data, Settings(max_reply_lines=50)))
    assert reply.truncated and len(reply.lines) == 50  # type: ignore[attr-defined]


@given(st.lists(st.binary(max_size=80).filter(lambda b: b"\n" not in b), min_size=1, max_size=8))
def test_reader_never_raises_on_short_garbage(lines: list[bytes]) -> None:
    data = b"\r\n".join(lines) + b"\r\n"
    reply = asyncio.run(_read(data, Settings()))
    assert len(reply.lines) >= 1  # type: ignore[attr-defined]
