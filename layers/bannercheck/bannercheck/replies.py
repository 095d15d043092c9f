"""Reading SMTP replies within caps, and parsing EHLO keywords. No sockets.

RFC 5321 §4.2: a reply is one or more lines ``NNN-text`` ending with a line
``NNN text`` (or just ``NNN``). Caps on line length, line count and total
bytes keep a hostile server from exhausting memory or time.
"""

from __future__ import annotations

import asyncio
import re

from bannercheck.model import EhloKeyword, Reply
from bannercheck.settings import Settings

_CODE = re.compile(rb"^([2-5][0-9][0-9])([ -]|$)")
_KEYWORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
CHUNK = 4096


class ReplyTooLargeError(Exception):
    """The server sent more than the caps allow in one reply."""


def to_text(raw: bytes) -> tuple[str, bool]:
    """Printable text of one received line, and whether it had non-ASCII bytes.

    Bytes outside printable US-ASCII are kept visible as ``\\xNN`` escapes so
    the transcript stays valid, storable text (no NUL, no invalid UTF-8).
    """
    if raw.isascii():
        text = raw.decode("ascii")
        if text.isprintable():  # the common case: nothing to escape
            return text, False
    out: list[str] = []
    odd = False
    for byte in raw:
        if 0x20 <= byte < 0x7F or byte == 0x09:
            out.append(chr(byte))
        else:
            odd = True
            out.append(f"\\x{byte:02x}")
    return "".join(out), odd


def to_reply(raw_lines: list[bytes], truncated: bool = False) -> Reply:
    """A Reply from raw lines (without line ends); pure, used by tests too."""
    lines: list[str] = []
    texts: list[str] = []
    codes: set[int] = set()
    non_ascii = False
    well_formed = True
    for index, raw in enumerate(raw_lines):
        text, odd = to_text(raw)
        non_ascii = non_ascii or odd
        lines.append(text)
        match = _CODE.match(raw)
        if match is None:
            well_formed = False
            texts.append(text)
            continue
        codes.add(int(match.group(1)))
        last = index == len(raw_lines) - 1
        if (match.group(2) == b"-") == last:
            well_formed = False
        texts.append(to_text(raw[4:])[0])
    first = _CODE.match(raw_lines[0]) if raw_lines else None
    code = int(first.group(1)) if first else None
    if len(codes) > 1:
        well_formed = False
    return Reply(
        code=code,
        lines=tuple(lines),
        texts=tuple(texts),
        truncated=truncated,
        non_ascii=non_ascii,
        well_formed=well_formed,
    )


class ReplyReader:
    """Reads one reply from a stream; keeps what arrived if the read is cut."""

    def __init__(self, reader: asyncio.StreamReader, settings: Settings) -> None:
        self._reader = reader
        self._settings = settings
        self._lines: list[bytes] = []
        self._pending = b""
        self._total = 0
        self.closed = False  # the server closed before the reply was complete

    def partial_lines(self) -> list[str]:
        """What arrived of an unfinished reply (for the transcript)."""
        raw = [*self._lines, self._pending] if self._pending else list(self._lines)
        cap = self._settings.max_line_bytes
        return [to_text(line[:cap])[0] + (" [...]" if len(line) > cap else "") for line in raw]

    async def _read_line(self) -> bytes | None:
        cap = self._settings.max_line_bytes
        while b"\n" not in self._pending:
            if len(self._pending) > cap:
                raise ReplyTooLargeError(f"line longer than {cap} bytes")
            chunk = await self._reader.read(CHUNK)
            if not chunk:
                return None
            self._total += len(chunk)
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        if len(line) > cap:
            raise ReplyTooLargeError(f"line longer than {cap} bytes")
        return line[:-1] if line.endswith(b"\r") else line

    async def read_reply(self) -> Reply:
        s = self._settings
        while True:
            line = await self._read_line()
            if line is None:
                # Closed: whatever arrived is the reply (possibly nothing).
                self.closed = True
                return to_reply([*self._lines, self._pending] if self._pending else self._lines)
            self._lines.append(line)
            match = _CODE.match(line)
            if match is None or match.group(2) != b"-":
                return to_reply(self._lines)
            if len(self._lines) >= s.max_reply_lines or self._total > s.max_reply_bytes:
                return to_reply(self._lines, truncated=True)


def to_keywords(reply: Reply) -> tuple[EhloKeyword, ...]:
    """EHLO keywords (RFC 5321 §4.1.1.1): every line but the first, parsed.

    ``250-SIZE 35882577`` -> EhloKeyword("SIZE", ("35882577",)). Lines that are
    not ehlo-lines are ignored rather than guessed at.
    """
    keywords: list[EhloKeyword] = []
    seen: set[str] = set()
    for text in reply.texts[1:]:
        parts = text.split()
        if not parts or not _KEYWORD.match(parts[0]):
            continue
        name = parts[0].upper()
        if name in seen:
            continue
        seen.add(name)
        keywords.append(EhloKeyword(name, tuple(parts[1:])))
    return tuple(keywords)
