"""DynamoDB repository: every check, who asked for it, watches, claims, deliveries.

One table, keys documented in ``docs/storage.md``. Every expression uses
``#name`` placeholders: ``domain`` and ``ttl`` are DynamoDB reserved words,
and moto accepts what DynamoDB (and dynalite) reject.

Example::

    store = CheckStore("bannercheck")
    store.put_check(report, Requester(source=Source.API, api_key_id="k1"))
    latest = store.latest(report.domain)
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import gzip
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from bannercheck.codec import to_dict, to_report
from bannercheck.model import Reply, Report, Session

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

# Attribute names: stable identifiers, documented in docs/storage.md.
PK = "pk"
SK = "sk"
LSI1_SK = "lsi1sk"  # checks: checked_at; watches: next_due
GSI1_PK = "gsi1pk"  # checks: who asked ("REQ#api#<key id>")
GSI1_SK = "gsi1sk"  # checks: requested_at#check_id
TTL = "expires_at"  # epoch seconds; DynamoDB TTL deletes the item after it
LSI_BY_TIME = "by_time"
GSI_BY_REQUESTER = "by_requester"

DEFAULT_RETENTION_DAYS = 90
# DynamoDB's item limit is 400 KB including attribute names; keep a margin.
MAX_ITEM_BYTES = 380_000
COMPRESS_OVER_BYTES = 64_000
NOTE_TRIMMED = "transcripts were trimmed to fit the storage item limit"
NOTE_REPLIES_SHORTENED = "SMTP replies were shortened to fit the storage item limit"
NOTE_FINDINGS_CAPPED = "findings were capped for storage"
STORED_REPLY_CHARS = 512  # of each reply's first line, when replies must be shortened
MAX_STORED_FINDINGS = 200
MAX_PAGE = 100
MAX_SORT_KEY_BYTES = 1024  # DynamoDB's limit (partition keys: 2048)
OPT_OUT_PK = "OPTOUT"  # one partition: listed with one Query, looked up by key
MAX_OPT_OUT_REASON = 500  # characters of the admin's note
MAX_BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
BATCH_GET_ATTEMPTS = 5  # for keys DynamoDB left unprocessed (throttling)


class Source(str, Enum):
    SLACK = "slack"
    API = "api"
    SCHEDULE = "schedule"
    CLI = "cli"


@dataclass(frozen=True)
class Requester:
    """Who asked for a check, by id only (never names or e-mail addresses)."""

    source: Source
    slack_team_id: str | None = None
    slack_user_id: str | None = None
    slack_channel_id: str | None = None
    api_key_id: str | None = None
    schedule_name: str | None = None

    @property
    def principal(self) -> str:
        """The audit key: one requester across all its checks."""
        if self.source is Source.SLACK:
            return f"{self.slack_team_id or '-'}:{self.slack_user_id or '-'}"
        if self.source is Source.API:
            return self.api_key_id or "-"
        if self.source is Source.SCHEDULE:
            return self.schedule_name or "-"
        return "-"


def to_requester(data: Mapping[str, Any]) -> Requester:
    """A Requester from its JSON form (probe payloads, stored items)."""
    names = {f.name for f in dataclasses.fields(Requester)} - {"source"}
    return Requester(
        source=Source(data.get("source", "cli")),
        **{k: (str(v) if v is not None else None) for k, v in data.items() if k in names},
    )


class Interval(str, Enum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"

    @property
    def seconds(self) -> int:
        return {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400}[self.value]


@dataclass(frozen=True)
class Watch:
    domain: str
    interval: Interval = Interval.DAILY
    slack_channel: str | None = None
    slack_team_id: str | None = None
    next_due: str = ""  # ISO 8601 UTC
    created_at: str = ""
    created_by: Requester = field(default_factory=lambda: Requester(source=Source.CLI))
    last_check_id: str | None = None
    last_verdict: str | None = None


@dataclass(frozen=True)
class OptOut:
    """An owner's request not to be probed: ``domain`` and every name below it.

    ``reason`` is the admin's note (a ticket reference, say), not the owner's name or
    address: none is needed to honour the request. Opt-outs never expire.
    """

    domain: str
    added_at: str  # ISO 8601 UTC
    added_by: Requester
    reason: str = ""


@dataclass(frozen=True)
class StoredCheck:
    report: Report
    requester: Requester
    requested_at: str
    stored_bytes: int
    compressed: bool


@dataclass(frozen=True)
class Page:
    items: tuple[StoredCheck, ...]
    cursor: str | None  # opaque; pass back to get the next page


class StoreError(Exception):
    """A stored item could not be read back (corrupt or unknown format)."""


class CursorError(ValueError):
    """A pagination cursor that this store did not hand out."""


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_timestamp(t: datetime | None = None) -> str:
    """``t`` (default: now) as the store writes times: ISO 8601 UTC, milliseconds, ``Z``.

    Example::

        to_timestamp()  # "2026-12-03T18:00:00.000Z"
    """
    return _iso(t or _now())


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _domain_pk(domain: str) -> str:
    return f"DOMAIN#{domain}"


def to_storable_report(report: Report) -> tuple[dict[str, Any], int, bool]:
    """The report as item attributes: JSON, gzip when large, shortened when still too large.

    Each step keeps more of the report than the next, and says what it cut in
    ``notes``; the verdict, grade and findings always survive.
    Returns (attributes, stored size in bytes, compressed).
    """
    for candidate in _storable_candidates(report):
        raw = json.dumps(to_dict(candidate), separators=(",", ":")).encode()
        if len(raw) <= COMPRESS_OVER_BYTES:
            return {"report_json": _s(raw.decode())}, len(raw), False
        packed = gzip.compress(raw, compresslevel=6)
        if len(packed) <= MAX_ITEM_BYTES:
            return {"report_gz": {"B": packed}}, len(packed), True
    raise StoreError(f"check {report.check_id} does not fit a DynamoDB item even when shortened")


def _storable_candidates(report: Report) -> Iterator[Report]:
    yield report
    # A hostile server can fill each reply up to the engine's cap (64 KB), on
    # every MX host: dropping the transcripts is not always enough.
    trimmed = _with_notes(_map_sessions(report, _without_transcript), NOTE_TRIMMED)
    yield trimmed
    yield _with_notes(_map_sessions(trimmed, _with_short_replies), NOTE_REPLIES_SHORTENED)
    bare = _map_sessions(trimmed, lambda s: _with_short_replies(s, chars=0))
    capped = len(report.findings) > MAX_STORED_FINDINGS
    yield _with_notes(
        dataclasses.replace(
            bare,
            findings=tuple(
                dataclasses.replace(f, evidence=_cut(f.evidence, STORED_REPLY_CHARS))
                for f in report.findings[:MAX_STORED_FINDINGS]
            ),
        ),
        NOTE_REPLIES_SHORTENED,
        *([NOTE_FINDINGS_CAPPED] if capped else []),
    )


def _with_notes(report: Report, *notes: str) -> Report:
    new = tuple(n for n in notes if n not in report.notes)
    return dataclasses.replace(report, notes=(*report.notes, *new)) if new else report


def _map_sessions(report: Report, change: Callable[[Session], Session]) -> Report:
    hosts = tuple(
        dataclasses.replace(
            h,
            addresses=tuple(
                dataclasses.replace(a, session=change(a.session)) if a.session is not None else a
                for a in h.addresses
            ),
        )
        for h in report.dns.hosts
    )
    return dataclasses.replace(report, dns=dataclasses.replace(report.dns, hosts=hosts))


def _without_transcript(session: Session) -> Session:
    return dataclasses.replace(session, transcript=(), transcript_truncated=True)


def _cut(text: str | None, chars: int) -> str | None:
    return text[:chars] if text is not None and len(text) > chars else text


def _short_reply(reply: Reply | None, chars: int) -> Reply | None:
    """The reply code and at most the start of its first line (``truncated`` set)."""
    if reply is None or (len(reply.lines) <= 1 and len("".join(reply.lines)) <= chars):
        return reply
    keep = 1 if chars else 0
    return dataclasses.replace(
        reply,
        lines=tuple(line[:chars] for line in reply.lines[:keep]),
        texts=tuple(text[:chars] for text in reply.texts[:keep]),
        truncated=True,
    )


def _with_short_replies(session: Session, chars: int = STORED_REPLY_CHARS) -> Session:
    return dataclasses.replace(
        session,
        greeting=_short_reply(session.greeting, chars),
        ehlo=_short_reply(session.ehlo, chars),
        ehlo_rejected=_short_reply(session.ehlo_rejected, chars),
        starttls=_short_reply(session.starttls, chars),
        ehlo_tls=_short_reply(session.ehlo_tls, chars),
        quit=_short_reply(session.quit, chars),
        error=_cut(session.error, chars or STORED_REPLY_CHARS),
    )


def _report_from_item(item: Mapping[str, Any]) -> Report:
    if "report_json" in item:
        return to_report(json.loads(item["report_json"]["S"]))
    if "report_gz" in item:
        blob = item["report_gz"]["B"]
        return to_report(json.loads(gzip.decompress(blob)))
    raise StoreError(f"item {item.get(PK)}/{item.get(SK)} holds no report")


def _plain(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value and "S" in value else None


class CheckStore:
    """The bannercheck table. ``client`` defaults to ``boto3.client("dynamodb")``.

    Example::

        store = CheckStore(os.environ["TABLE_NAME"])
        if store.claim("slack#" + trigger_id, ttl_s=300):
            ...  # first delivery of this Slack request
    """

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        if client is None:
            import boto3  # lazy: keeps handler import cheap

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client
        self.retention_days = retention_days

    # --- checks ---------------------------------------------------------
    def put_check(
        self, report: Report, requester: Requester, *, requested_at: str | None = None
    ) -> StoredCheck:
        """Store one report once; a second put of the same check id changes nothing."""
        requested = requested_at or _iso(_now())
        attrs, size, compressed = to_storable_report(report)
        expires = int(time.time()) + self.retention_days * 86400
        item: dict[str, Any] = {
            PK: _s(_domain_pk(report.domain)),
            SK: _s(f"CHECK#{report.check_id}"),
            LSI1_SK: _s(f"{report.checked_at}#{report.check_id}"),
            GSI1_PK: _s(f"REQ#{requester.source.value}#{requester.principal}"),
            GSI1_SK: _s(f"{requested}#{report.check_id}"),
            TTL: _n(expires),
            "kind": _s("check"),
            "domain": _s(report.domain),
            "check_id": _s(report.check_id),
            "checked_at": _s(report.checked_at),
            "requested_at": _s(requested),
            "verdict": _s(report.verdict.value),
            "grade": _s(report.grade),
            "requester": _s(json.dumps(to_dict(requester), separators=(",", ":"))),
            **attrs,
        }
        # SQS redelivery or a retried invoke: the first copy stands.
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        return StoredCheck(
            report=_report_from_item(item),
            requester=requester,
            requested_at=requested,
            stored_bytes=size,
            compressed=compressed,
        )

    def get_check(self, domain: str, check_id: str) -> StoredCheck | None:
        out = self.client.get_item(
            TableName=self.table_name,
            Key={PK: _s(_domain_pk(domain)), SK: _s(f"CHECK#{check_id}")},
            ConsistentRead=True,
        )
        item = out.get("Item")
        return self._stored(item) if item else None

    def latest(self, domain: str) -> StoredCheck | None:
        page = self.history(domain, limit=1)
        return page.items[0] if page.items else None

    def history(self, domain: str, *, limit: int = 20, cursor: str | None = None) -> Page:
        """Checks of one domain, newest first."""
        return self._query_page(
            index=LSI_BY_TIME,
            partition=(PK, _domain_pk(domain)),
            sort_key=LSI1_SK,
            limit=limit,
            cursor=cursor,
        )

    def by_requester(
        self, requester: Requester, *, limit: int = 20, cursor: str | None = None
    ) -> Page:
        """The audit trail: one requester's checks, newest first."""
        return self._query_page(
            index=GSI_BY_REQUESTER,
            partition=(GSI1_PK, f"REQ#{requester.source.value}#{requester.principal}"),
            sort_key=GSI1_SK,
            limit=limit,
            cursor=cursor,
        )

    def _query_page(
        self,
        *,
        index: str,
        partition: tuple[str, str],
        sort_key: str,
        limit: int,
        cursor: str | None,
    ) -> Page:
        name, value = partition
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": name},
            "ExpressionAttributeValues": {":p": _s(value)},
            "ScanIndexForward": False,
            "Limit": max(1, min(limit, MAX_PAGE)),
        }
        if cursor:
            # DynamoDB rejects a start key of another partition or shape with a
            # ValidationException; refuse it here as the client's error instead.
            start = _from_cursor(cursor)
            if set(start) != {PK, SK, name, sort_key} or start[name] != _s(value):
                raise CursorError("the cursor is not one this API handed out")
            kwargs["ExclusiveStartKey"] = start
        out = self.client.query(**kwargs)
        items = tuple(self._stored(i) for i in out.get("Items", []))
        last = out.get("LastEvaluatedKey")
        return Page(items=items, cursor=_to_cursor(last) if last else None)

    def _stored(self, item: Mapping[str, Any]) -> StoredCheck:
        blob = item.get("report_gz")
        return StoredCheck(
            report=_report_from_item(item),
            requester=to_requester(json.loads(_plain(item, "requester") or "{}")),
            requested_at=_plain(item, "requested_at") or "",
            stored_bytes=len(blob["B"]) if blob else len(_plain(item, "report_json") or ""),
            compressed=blob is not None,
        )

    # --- watches --------------------------------------------------------
    def put_watch(self, watch: Watch) -> Watch:
        now = _iso(_now())
        watch = dataclasses.replace(
            watch, created_at=watch.created_at or now, next_due=watch.next_due or now
        )
        self.client.put_item(TableName=self.table_name, Item=self._watch_item(watch))
        return watch

    def get_watch(self, domain: str) -> Watch | None:
        out = self.client.get_item(
            TableName=self.table_name,
            Key={PK: _s("WATCH"), SK: _s(_domain_pk(domain))},
            ConsistentRead=True,
        )
        item = out.get("Item")
        return self._watch(item) if item else None

    def delete_watch(self, domain: str) -> bool:
        out = self.client.delete_item(
            TableName=self.table_name,
            Key={PK: _s("WATCH"), SK: _s(_domain_pk(domain))},
            ReturnValues="ALL_OLD",
        )
        return bool(out.get("Attributes"))

    def watches(self) -> Iterator[Watch]:
        yield from self._watch_query("#pk = :pk", {":pk": _s("WATCH")}, index=None)

    def due_watches(self, now: datetime | None = None) -> Iterator[Watch]:
        """Watches whose next run is at or before ``now``, earliest first."""
        bound = _iso(now or _now())
        yield from self._watch_query(
            "#pk = :pk AND #due <= :now",
            {":pk": _s("WATCH"), ":now": _s(bound + "~")},
            index=LSI_BY_TIME,
        )

    def advance_watch(self, watch: Watch, now: datetime | None = None) -> Watch | None:
        """Move ``next_due`` one interval on, only if nobody else did (one dispatch wins)."""
        base = now or _now()
        nxt = _iso(base + timedelta(seconds=watch.interval.seconds))
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={PK: _s("WATCH"), SK: _s(_domain_pk(watch.domain))},
                UpdateExpression="SET #due = :nxt, #nd = :nd",
                ConditionExpression="#nd = :old",
                ExpressionAttributeNames={"#due": LSI1_SK, "#nd": "next_due"},
                ExpressionAttributeValues={
                    ":nxt": _s(f"{nxt}#{watch.domain}"),
                    ":nd": _s(nxt),
                    ":old": _s(watch.next_due),
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return dataclasses.replace(watch, next_due=nxt)

    def record_watch_result(self, domain: str, report: Report) -> None:
        """Remember the last result of a watched domain (for change alerts)."""
        # A watch deleted meanwhile stays deleted.
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.table_name,
                Key={PK: _s("WATCH"), SK: _s(_domain_pk(domain))},
                UpdateExpression="SET #lc = :lc, #lv = :lv",
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#lc": "last_check_id", "#lv": "last_verdict", "#pk": PK},
                ExpressionAttributeValues={
                    ":lc": _s(report.check_id),
                    ":lv": _s(report.verdict.value),
                },
            )

    def _watch_query(
        self, expr: str, values: dict[str, Any], *, index: str | None
    ) -> Iterator[Watch]:
        names = {"#pk": PK}
        if "#due" in expr:
            names["#due"] = LSI1_SK
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": expr,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if index:
            kwargs["IndexName"] = index
        while True:
            out = self.client.query(**kwargs)
            for item in out.get("Items", []):
                yield self._watch(item)
            if not out.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    @staticmethod
    def _watch_item(w: Watch) -> dict[str, Any]:
        item: dict[str, Any] = {
            PK: _s("WATCH"),
            SK: _s(_domain_pk(w.domain)),
            LSI1_SK: _s(f"{w.next_due}#{w.domain}"),
            "kind": _s("watch"),
            "domain": _s(w.domain),
            "interval": _s(w.interval.value),
            "next_due": _s(w.next_due),
            "created_at": _s(w.created_at),
            "created_by": _s(json.dumps(to_dict(w.created_by), separators=(",", ":"))),
        }
        for name in ("slack_channel", "slack_team_id", "last_check_id", "last_verdict"):
            value = getattr(w, name)
            if value:
                item[name] = _s(value)
        return item

    @staticmethod
    def _watch(item: Mapping[str, Any]) -> Watch:
        return Watch(
            domain=_plain(item, "domain") or "",
            interval=Interval(_plain(item, "interval") or "daily"),
            slack_channel=_plain(item, "slack_channel"),
            slack_team_id=_plain(item, "slack_team_id"),
            next_due=_plain(item, "next_due") or "",
            created_at=_plain(item, "created_at") or "",
            created_by=to_requester(json.loads(_plain(item, "created_by") or "{}")),
            last_check_id=_plain(item, "last_check_id"),
            last_verdict=_plain(item, "last_verdict"),
        )

    # --- opt-outs (no TTL: they outlive the retention) -----------------
    def put_opt_out(
        self, domain: str, requester: Requester, reason: str = ""
    ) -> tuple[OptOut, bool]:
        """Record (or replace) the opt-out of ``domain``; True when it is new."""
        opt_out = OptOut(domain, _iso(_now()), requester, reason[:MAX_OPT_OUT_REASON])
        item = {
            PK: _s(OPT_OUT_PK),
            SK: _s(_domain_pk(domain)),
            "kind": _s("opt_out"),
            "domain": _s(domain),
            "added_at": _s(opt_out.added_at),
            "added_by": _s(json.dumps(to_dict(requester), separators=(",", ":"))),
            "reason": _s(opt_out.reason),
        }
        out = self.client.put_item(TableName=self.table_name, Item=item, ReturnValues="ALL_OLD")
        return opt_out, not out.get("Attributes")

    def delete_opt_out(self, domain: str) -> bool:
        """Lift the opt-out of exactly ``domain``; False when there was none."""
        out = self.client.delete_item(
            TableName=self.table_name,
            Key={PK: _s(OPT_OUT_PK), SK: _s(_domain_pk(domain))},
            ReturnValues="ALL_OLD",
        )
        return bool(out.get("Attributes"))

    def opt_outs(self) -> Iterator[OptOut]:
        """Every opt-out, by domain."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": {":pk": _s(OPT_OUT_PK)},
        }
        while True:
            out = self.client.query(**kwargs)
            yield from (self._opt_out(item) for item in out.get("Items", []))
            if not out.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def find_opt_out(self, domain: str) -> OptOut | None:
        """The opt-out covering ``domain`` (itself or a parent), the closest one first.

        One strongly consistent BatchGetItem (two past 100 labels), no cache: an
        opt-out added a moment ago wins at once. Keys DynamoDB leaves unprocessed are
        asked again; if they stay unprocessed this raises ``StoreError`` rather than
        answer "not opted out" without knowing.
        """
        names = to_parent_domains(domain)
        found: dict[str, OptOut] = {}
        for start in range(0, len(names), MAX_BATCH_GET_KEYS):
            keys = [
                {PK: _s(OPT_OUT_PK), SK: _s(_domain_pk(name))}
                for name in names[start : start + MAX_BATCH_GET_KEYS]
            ]
            for item in self._batch_get(keys):
                opt_out = self._opt_out(item)
                found[opt_out.domain] = opt_out
        return next((found[name] for name in names if name in found), None)

    def _batch_get(self, keys: list[dict[str, Any]]) -> Iterator[Mapping[str, Any]]:
        request: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(BATCH_GET_ATTEMPTS):
            out = self.client.batch_get_item(RequestItems=request)
            yield from out.get("Responses", {}).get(self.table_name, [])
            request = out.get("UnprocessedKeys") or {}
            if not request:
                return
            time.sleep(0.05 * 2**attempt)
        raise StoreError("the opt-out list could not be read (DynamoDB left keys unprocessed)")

    @staticmethod
    def _opt_out(item: Mapping[str, Any]) -> OptOut:
        return OptOut(
            domain=_plain(item, "domain") or "",
            added_at=_plain(item, "added_at") or "",
            added_by=to_requester(json.loads(_plain(item, "added_by") or "{}")),
            reason=_plain(item, "reason") or "",
        )

    # --- claims and deliveries -----------------------------------------
    def claim(self, key: str, ttl_s: int) -> bool:
        """True for the first caller of ``key`` within ``ttl_s`` seconds, False after.

        Slack retries, repeated button clicks and SQS redeliveries use it so one
        request gives one result. An expired claim can be taken again even before
        DynamoDB's TTL sweeper has deleted it.
        """
        now = int(time.time())
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    PK: _s(f"CLAIM#{key}"),
                    SK: _s("CLAIM"),
                    TTL: _n(now + ttl_s),
                    "kind": _s("claim"),
                },
                ConditionExpression="attribute_not_exists(#pk) OR #ttl < :now",
                ExpressionAttributeNames={"#pk": PK, "#ttl": TTL},
                ExpressionAttributeValues={":now": _n(now)},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, key: str) -> None:
        self.client.delete_item(
            TableName=self.table_name, Key={PK: _s(f"CLAIM#{key}"), SK: _s("CLAIM")}
        )

    def expire_claim(self, key: str) -> None:
        """Make ``key`` free to claim again with a write, not a delete.

        For the dispatcher, whose IAM policy has no ``DeleteItem``: a claim whose
        expiry has passed is taken again by the next :meth:`claim`.
        """
        self.client.put_item(
            TableName=self.table_name,
            Item={
                PK: _s(f"CLAIM#{key}"),
                SK: _s("CLAIM"),
                TTL: _n(int(time.time()) - 1),
                "kind": _s("claim"),
            },
        )

    def record_delivery(
        self, domain: str, check_id: str, kind: str, *, ok: bool, detail: str = ""
    ) -> None:
        """Where a report was sent and whether that worked (stored next to the check)."""
        now = _iso(_now())
        self.client.put_item(
            TableName=self.table_name,
            Item={
                PK: _s(_domain_pk(domain)),
                SK: _s(f"DELIVERY#{check_id}#{now}#{kind}"),
                TTL: _n(int(time.time()) + self.retention_days * 86400),
                "kind": _s("delivery"),
                "check_id": _s(check_id),
                "delivery_kind": _s(kind),
                "ok": {"BOOL": ok},
                "detail": _s(detail[:1000]),
                "delivered_at": _s(now),
            },
        )

    def deliveries(self, domain: str, check_id: str) -> list[dict[str, Any]]:
        out = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :p)",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues={
                ":pk": _s(_domain_pk(domain)),
                ":p": _s(f"DELIVERY#{check_id}#"),
            },
        )
        return [
            {
                "kind": _plain(i, "delivery_kind"),
                "ok": i["ok"]["BOOL"],
                "detail": _plain(i, "detail"),
                "delivered_at": _plain(i, "delivered_at"),
            }
            for i in out.get("Items", [])
        ]


def to_parent_domains(domain: str) -> list[str]:
    """``domain`` and every parent, longest first: the names an opt-out of which covers it.

    >>> to_parent_domains("mx.example.com")
    ['mx.example.com', 'example.com', 'com']
    """
    labels = domain.lower().rstrip(".").split(".")
    return [".".join(labels[i:]) for i in range(len(labels)) if labels[i]]


def _to_cursor(key: Mapping[str, Any]) -> str:
    raw = json.dumps({k: v["S"] for k, v in key.items()}, sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _from_cursor(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise CursorError("the cursor is not one this API handed out") from exc
    allowed = {PK, SK, LSI1_SK, GSI1_PK, GSI1_SK}
    if not isinstance(data, dict) or not data or not set(data) <= allowed:
        raise CursorError("the cursor is not one this API handed out")
    # DynamoDB refuses empty and over-long key values (moto does not): a forged
    # cursor must be the caller's 400, never a ValidationException.
    if not all(isinstance(v, str) and _fits_key(v) for v in data.values()):
        raise CursorError("the cursor is not one this API handed out")
    return {k: _s(v) for k, v in data.items()}


def _fits_key(value: str) -> bool:
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        return False
    return 0 < size <= MAX_SORT_KEY_BYTES


def store_from_env(environ: Mapping[str, str] | None = None) -> CheckStore:
    """The store the functions use: ``TABLE_NAME``, ``RETENTION_DAYS``."""
    env = os.environ if environ is None else environ
    return CheckStore(
        env["TABLE_NAME"],
        retention_days=int(env.get("RETENTION_DAYS") or DEFAULT_RETENTION_DAYS),
    )


def table_definition(template_path: str) -> dict[str, Any]:
    """CreateTable arguments from the template's table resource (local stack, tests)."""
    from bannercheck.cfn import load_template

    template = load_template(template_path)
    props = template["Resources"]["Table"]["Properties"]
    out: dict[str, Any] = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    for name in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        if name in props:
            out[name] = props[name]
    return out


def cached_store_from_env() -> CheckStore:
    """:func:`store_from_env`, reused across warm invocations (one boto3 client)."""
    env = os.environ
    return _cached_store(
        env["TABLE_NAME"],
        env.get("RETENTION_DAYS") or str(DEFAULT_RETENTION_DAYS),
        env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL") or "",
    )


@cache
def _cached_store(table_name: str, retention_days: str, endpoint: str) -> CheckStore:
    # The endpoint is part of the key only so that tests can switch backends.
    return CheckStore(table_name, retention_days=int(retention_days))
