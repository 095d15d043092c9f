"""The audit trail: every request, allowed or refused, and every erasure.

A record says who asked (ids only: Slack team/user, API key id, schedule name —
never names or e-mail addresses), from where (Slack, API, schedule), for which
domain, what was decided and why, the check id, and when. Records live in the
checks table under ``AUDIT#<day>`` and expire with the same retention (TTL).

Example::

    trail = AuditTrail(store)
    trail.record(requester, "example.com", action="check", allowed=True,
                 decision="open", check_id=check_id)
    print(to_csv(trail.records(since, until)))
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

from bannercheck.ids import new_check_id
from bannercheck.store import PK, SK, TTL, CheckStore, Requester

MAX_EXPORT_DAYS = 92
MAX_EXPORT_RECORDS = 10_000


class Action(str, Enum):
    CHECK = "check"
    WATCH = "watch"
    UNWATCH = "unwatch"  # a watch removed (or asked to be, when there was none)
    VERIFY = "verify"  # asked what to publish
    ERASE = "erase"
    EXPORT = "export"  # an admin read the trail
    OPT_OUT = "opt_out"  # an admin added (or replaced) an opt-out
    LIFT_OPT_OUT = "lift_opt_out"  # an admin removed one
    LIST_OPT_OUTS = "list_opt_outs"  # an admin read the opt-out list


@dataclass(frozen=True)
class AuditRecord:
    audit_id: str
    at: str  # ISO 8601 UTC, milliseconds
    source: str  # slack / api / schedule / cli
    principal: str  # "T…:U…", API key id, schedule name
    domain: str
    action: str
    allowed: bool
    decision: str  # policy.Reason value
    check_id: str | None = None
    detail: str = ""
    slack_team_id: str | None = None
    slack_user_id: str | None = None
    api_key_id: str | None = None


CSV_FIELDS = tuple(AuditRecord.__dataclass_fields__)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _s(v: str) -> dict[str, str]:
    return {"S": v}


class AuditTrail:
    """Audit records in ``store``'s table, with its client and retention."""

    def __init__(self, store: CheckStore) -> None:
        self.store = store

    def record(
        self,
        requester: Requester,
        domain: str,
        *,
        action: Action | str,
        allowed: bool,
        decision: str,
        check_id: str | None = None,
        detail: str = "",
        at: datetime | None = None,
    ) -> AuditRecord:
        when = at or datetime.now(UTC)
        rec = AuditRecord(
            audit_id=new_check_id(),
            at=_iso(when),
            source=requester.source.value,
            principal=requester.principal,
            domain=domain,
            action=Action(action).value,
            allowed=allowed,
            decision=decision,
            check_id=check_id,
            detail=detail[:500],
            slack_team_id=requester.slack_team_id,
            slack_user_id=requester.slack_user_id,
            api_key_id=requester.api_key_id,
        )
        item: dict[str, Any] = {
            PK: _s(f"AUDIT#{rec.at[:10]}"),
            SK: _s(f"{rec.at}#{rec.audit_id}"),
            TTL: {"N": str(int(time.time()) + self.store.retention_days * 86400)},
            "kind": _s("audit"),
            "record": _s(json.dumps(asdict(rec), separators=(",", ":"))),
        }
        self.store.client.put_item(TableName=self.store.table_name, Item=item)
        return rec

    def records(
        self, since: datetime, until: datetime, *, limit: int = MAX_EXPORT_RECORDS
    ) -> list[AuditRecord]:
        """Records with ``since <= at < until``, oldest first (one query per day)."""
        if until <= since:
            return []
        if until - since > timedelta(days=MAX_EXPORT_DAYS):
            raise ValueError(f"export at most {MAX_EXPORT_DAYS} days at a time")
        out: list[AuditRecord] = []
        for day in _days(since, until):
            for rec in self._day(day, _iso(since), _iso(until)):
                out.append(rec)
                if len(out) >= limit:
                    return out
        return out

    def records_page(
        self, since: datetime, until: datetime, *, limit: int = MAX_EXPORT_RECORDS
    ) -> tuple[list[AuditRecord], str | None]:
        """Up to ``limit`` records, and the ``at`` to export from next when more remain.

        An export is capped, but never silently: the caller passes the second
        value on (as ``since``) so that nothing of the trail is out of reach.
        """
        got = self.records(since, until, limit=limit + 1)
        if len(got) > limit:
            return got[:limit], got[limit].at
        return got, None

    def _day(self, day: date, low: str, high: str) -> Iterator[AuditRecord]:
        kwargs: dict[str, Any] = {
            "TableName": self.store.table_name,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": {
                ":pk": _s(f"AUDIT#{day.isoformat()}"),
                ":lo": _s(low),
                ":hi": _s(high),
            },
            "ConsistentRead": True,
        }
        while True:
            page = self.store.client.query(**kwargs)
            for item in page.get("Items", []):
                rec = to_record(json.loads(item["record"]["S"]))
                if rec.at < high:  # BETWEEN is inclusive
                    yield rec
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _days(since: datetime, until: datetime) -> Iterator[date]:
    day = since.astimezone(UTC).date()
    last = (until - timedelta(microseconds=1)).astimezone(UTC).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def to_record(data: dict[str, Any]) -> AuditRecord:
    return AuditRecord(**{k: data.get(k) for k in CSV_FIELDS})  # type: ignore[arg-type]


def to_json(records: Iterable[AuditRecord]) -> str:
    return json.dumps({"records": [asdict(r) for r in records]}, separators=(",", ":"))


def to_csv(records: Iterable[AuditRecord]) -> str:
    """RFC 4180 CSV with a header row; cells that a spreadsheet would run are defused."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for rec in records:
        row = asdict(rec)
        writer.writerow([_cell(row[f]) for f in CSV_FIELDS])
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # CSV injection: a domain or detail starting with = + - @ would be a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def erase_domain(store: CheckStore, domain: str, requester: Requester) -> int:
    """Delete every stored check (and delivery record) of ``domain``; record the erasure.

    The audit trail keeps its records (they show who checked what, which is
    why it exists); the erasure is one of them. Returns the items deleted.
    """
    client = store.client
    deleted = 0
    kwargs: dict[str, Any] = {
        "TableName": store.table_name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
        "ExpressionAttributeValues": {":pk": _s(f"DOMAIN#{domain}")},
        "ProjectionExpression": "#pk, #sk",
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**kwargs)
        for item in page.get("Items", []):
            client.delete_item(TableName=store.table_name, Key={PK: item[PK], SK: item[SK]})
            deleted += 1
        if not page.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if store.delete_watch(domain):
        deleted += 1
    AuditTrail(store).record(
        requester,
        domain,
        action=Action.ERASE,
        allowed=True,
        decision="erased",
        detail=f"{deleted} stored items deleted",
    )
    return deleted


def remove_watch(store: CheckStore, domain: str, requester: Requester) -> bool:
    """Stop watching ``domain`` and record who asked (API ``DELETE /watches``, Slack).

    Returns whether there was a watch; the record's decision is ``unwatched`` or
    ``not_watched``, so a removal is on the trail like the watch's creation.
    """
    removed = store.delete_watch(domain)
    AuditTrail(store).record(
        requester,
        domain,
        action=Action.UNWATCH,
        allowed=True,
        decision="unwatched" if removed else "not_watched",
    )
    return removed


# --- what the admin endpoints need (GET /audit, DELETE /checks/{domain}) --------------
DEFAULT_EXPORT_DAYS = 7
EXPORT_FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


def admin_key_ids(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """``BANNERCHECK_ADMIN_KEY_IDS``: API key ids that may read the trail and erase data."""
    env = os.environ if environ is None else environ
    raw = env.get("BANNERCHECK_ADMIN_KEY_IDS", "")
    return frozenset(k.strip() for k in raw.split(",") if k.strip())


def is_admin(requester: Requester, environ: Mapping[str, str] | None = None) -> bool:
    return bool(requester.api_key_id) and requester.api_key_id in admin_key_ids(environ)


def to_range(
    since: str | None, until: str | None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """An export window from ISO 8601 texts; ValueError says what is wrong.

    >>> to_range("2026-12-01", "2026-12-02")[0].isoformat()
    '2026-12-01T00:00:00+00:00'
    """
    end = _parse_time(until, "until") if until else (now or datetime.now(UTC))
    start = _parse_time(since, "since") if since else end - timedelta(days=DEFAULT_EXPORT_DAYS)
    if start >= end:
        raise ValueError("since must be before until")
    if end - start > timedelta(days=MAX_EXPORT_DAYS):
        raise ValueError(f"export at most {MAX_EXPORT_DAYS} days at a time")
    return start, end


def _parse_time(text: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date or time, like 2026-12-01") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def to_export(records: Iterable[AuditRecord], fmt: str) -> tuple[str, str]:
    """(content type, body) of an export; ValueError for an unknown format."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    body = to_csv(records) if fmt == "csv" else to_json(records)
    return EXPORT_FORMATS[fmt], body
