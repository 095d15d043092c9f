"""The scheduled dispatcher: watched domains that are due -> one probe message each.

Started by EventBridge Scheduler. Each due watch is first moved on to its next
run with a conditional write, so two overlapping ticks never queue one domain
twice; the SQS event source's maximum concurrency then paces the probes.

Example::

    result = dispatch_due(store, schedule_name="bannercheck-dispatch")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bannercheck.invoke import send_probe_messages
from bannercheck.probe_job import to_payload
from bannercheck.store import CheckStore, Requester, Source

log = logging.getLogger(__name__)

# One tick queues at most this many; the rest stay due for the next tick.
MAX_PER_TICK = 500

Send = Callable[[Sequence[Mapping[str, Any]]], int]


@dataclass(frozen=True)
class DispatchResult:
    due: int
    queued: int
    skipped: int  # taken by an overlapping tick
    check_ids: tuple[str, ...]
    refused: int = 0  # opted out, or no longer allowed, since the watch was created


def dispatch_due(
    store: CheckStore,
    *,
    schedule_name: str = "watch",
    now: datetime | None = None,
    send: Send = send_probe_messages,
    limit: int = MAX_PER_TICK,
) -> DispatchResult:
    """Queue a check for every watch that is due; returns what was done."""
    # The opt-out wins, permission is judged again for the watch's creator; recorded.
    from bannercheck.policy import admit_scheduled

    payloads: list[dict[str, Any]] = []
    due = skipped = refused = 0
    for watch in store.due_watches(now):
        if len(payloads) >= limit:
            break
        due += 1
        if store.advance_watch(watch, now) is None:
            skipped += 1
            continue
        requester = Requester(source=Source.SCHEDULE, schedule_name=schedule_name)
        payload = to_payload(watch.domain, requester)
        if not admit_scheduled(
            watch.domain, requester, payload["check_id"], store=store, owner=watch.created_by
        ):
            refused += 1
            continue
        payloads.append(payload)
    queued = send(payloads)
    if queued < len(payloads):
        # The watches already moved on: they run again at their next interval.
        log.error("queued %d of %d probe messages", queued, len(payloads))
    return DispatchResult(
        due=due,
        queued=queued,
        skipped=skipped,
        check_ids=tuple(p["check_id"] for p in payloads),
        refused=refused,
    )


def to_schedule_name(event: Mapping[str, Any]) -> str:
    """The schedule's name: the template's ``Input`` names it; else the ARN's last part."""
    if isinstance(event.get("schedule"), str) and event["schedule"]:
        return str(event["schedule"])[:128]
    resources = event.get("resources") or []
    if resources and isinstance(resources[0], str):
        return resources[0].rsplit("/", 1)[-1]
    return "watch"
