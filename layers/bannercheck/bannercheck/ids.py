"""Check ids: time-ordered, URL-safe, unique (ULID layout, Crockford base32)."""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def new_check_id(now_ms: int | None = None) -> str:
    """26 characters: 48 bits of milliseconds, then 80 random bits.

    Ids sort by creation time, which the store's history order relies on.
    """
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    value = (stamp << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_check_id(text: str) -> bool:
    return bool(CHECK_ID.match(text))
