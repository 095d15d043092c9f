"""Small asyncio helpers of the hot path (no I/O of their own)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import TypeVar

T = TypeVar("T")


async def gather_all(coros: Sequence[Coroutine[object, object, T]]) -> list[T]:
    """``asyncio.gather``, but one coroutine is awaited in place, with no task.

    Most domains have one MX host with one address: a task per step would be
    most of the scheduling cost of their check.
    """
    if len(coros) == 1:
        return [await coros[0]]
    return list(await asyncio.gather(*coros))
