"""The scheduled dispatcher: watched domains that are due -> one probe message each.

Started by EventBridge Scheduler. Each due watch is first claimed for its due
time, so two overlapping ticks never queue one domain twice; it moves on to its
next run only once its message is queued (a message SQS did not take is released
and stays due for the next tick). The SQS event source's maximum concurrency then
paces the probes.

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
from bannercheck.store import CheckStore, Requester, Source, Watch

log = logging.getLogger(__name__)

# One tick queues at most this many; the rest stay due for the next tick.
MAX_PER_TICK = 500
# Covers one tick's sends; shorter than the shortest interval (hourly), so a tick that
# died between its claim and its send delays the watch by minutes, not an interval.
DISPATCH_CLAIM_TTL_S = 600

# Queues the payloads; returns the positions of those that were queued.
Send = Callable[[Sequence[Mapping[str, Any]]], Sequence[int]]


@dataclass(frozen=True)
class DispatchResult:
    due: int
    queued: int
    skipped: int  # taken by an overlapping tick
    check_ids: tuple[str, ...]  # of the queued messages
    refused: int = 0  # opted out, or no longer allowed, since the watch was created
    unsent: int = 0  # not taken by the queue; still due, sent again by the next tick


def _claim_key(watch: Watch) -> str:
    return f"dispatch#{watch.domain}#{watch.next_due}"


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
    claimed: list[Watch] = []
    due = skipped = refused = 0
    for watch in store.due_watches(now):
        if len(payloads) >= limit:
            break
        due += 1
        if not store.claim(_claim_key(watch), DISPATCH_CLAIM_TTL_S):
            skipped += 1
            continue
        requester = Requester(source=Source.SCHEDULE, schedule_name=schedule_name)
        payload = to_payload(watch.domain, requester)
        if not admit_scheduled(
            watch.domain, requester, payload["check_id"], store=store, owner=watch.created_by
        ):
            refused += 1
            store.advance_watch(watch, now)  # judged again at its next run
            continue
        payloads.append(payload)
        claimed.append(watch)
    sent = set(send(payloads))
    for i, watch in enumerate(claimed):
        if i in sent:
            store.advance_watch(watch, now)
        else:  # stays due: the next tick may take it again (no DeleteItem here)
            store.expire_claim(_claim_key(watch))
    if len(sent) < len(payloads):
        log.error("queued %d of %d probe messages; the rest stay due", len(sent), len(payloads))
    return DispatchResult(
        due=due,
        queued=len(sent),
        skipped=skipped,
        check_ids=tuple(p["check_id"] for i, p in enumerate(payloads) if i in sent),
        refused=refused,
        unsent=len(payloads) - len(sent),
    )


def to_schedule_name(event: Mapping[str, Any]) -> str:
    """The schedule's name: the template's ``Input`` names it; else the ARN's last part."""
    if isinstance(event.get("schedule"), str) and event["schedule"]:
        return str(event["schedule"])[:128]
    resources = event.get("resources") or []
    if resources and isinstance(resources[0], str):
        return resources[0].rsplit("/", 1)[-1]
    return "watch"
