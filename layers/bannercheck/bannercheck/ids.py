"""Check ids: time-ordered, URL-safe, unique (ULID layout, Crockford base32)."""

from __future__ import annotations

import os
import re
import time
from typing import TypeGuard

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
# What the API's URLs and the probe payloads accept as a check id (openapi.yaml's
# pattern): ours, and ids made elsewhere, short enough for a DynamoDB sort key.
ACCEPTED_CHECK_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


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


def is_accepted_check_id(text: object) -> TypeGuard[str]:
    """True for a check id the API and the probe accept (see ``ACCEPTED_CHECK_ID``).

    Example::

        is_accepted_check_id("01ARZ3NDEKTSV4RRFFQ69G5FAV")  # True
    """
    return isinstance(text, str) and ACCEPTED_CHECK_ID.fullmatch(text) is not None
