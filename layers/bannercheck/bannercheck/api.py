"""The public HTTPS API (API Gateway REST API, API keys): Powertools REST resolver.

Routes (openapi.yaml describes them):
  POST   /checks                     run a check now -> 201 + Location
  GET    /checks/{domain}            latest report + history (?limit=&cursor=)
  GET    /checks/{domain}/{check_id} one stored report
  GET    /watches                    watched domains
  PUT    /watches/{domain}           watch a domain {"interval", "slack_channel"}
  DELETE /watches/{domain}           stop watching
  GET    /verification/{domain}      the TXT record that proves control (verified policy)
  GET    /audit                      the audit trail, JSON or CSV (admin API key)
  DELETE /checks/{domain}            erase a domain's stored checks (admin API key)
  GET    /opt-outs                   domains whose owners asked not to be probed (admin)
  PUT    /opt-outs/{domain}          add one {"reason"} (admin API key)
  DELETE /opt-outs/{domain}          lift one (admin API key)
Errors are always ``{"error": {"code": ..., "message": ...}}``.

Request bodies are checked in two steps. First their shape, against the
request-body schema openapi.yaml publishes (``api_schemas``, a test keeps the two
equal), with Powertools' JSON Schema validation (``utilities.validation``, which
runs fastjsonschema, pure Python); a failure becomes a 400 naming the field.
Then the meaning, by hand: the domain through ``to_domain`` (not a URL, an
address or an IP). The resolver's own ``enable_validation`` is not used: it
needs pydantic, a native package that would add megabytes to the layer and a
slow import to every cold start, for two small bodies.

Example (the handler in functions/api/app.py)::

    return app.resolve(event, context)
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from bannercheck import audit
from bannercheck.api_schemas import CHECK_REQUEST, OPT_OUT_REQUEST, WATCH_REQUEST
from bannercheck.domain import Domain, DomainError, to_domain
from bannercheck.ids import is_accepted_check_id
from bannercheck.invoke import ProbeInvokeError
from bannercheck.probe_job import (
    AdmissionError,
    Admit,
    RateLimitedError,
    admit_by_policy,
    admit_watch,
    request_check,
)
from bannercheck.ratelimit import to_age_s
from bannercheck.settings import settings_from_env
from bannercheck.store import (
    MAX_PAGE,
    CheckStore,
    CursorError,
    Interval,
    OptOut,
    Requester,
    Source,
    StoredCheck,
    Watch,
    cached_store_from_env,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.validation import SchemaValidationError

log = logging.getLogger(__name__)
JSON = "application/json"
MAX_BODY_BYTES = 4096
NEXT_SINCE_HEADER = "X-Audit-Next-Since"  # set when an audit export was capped
CACHED_HEADER = "X-Bannercheck-Cached"  # "true": a stored result, not probed for this request
_admit: Admit = admit_by_policy
# A body field the schema refuses -> (error code, what a good value looks like).
FIELD_ERRORS = {
    "domain": (
        "invalid_domain",
        'give the domain as {"domain": "example.com"} (253 characters at most)',
    ),
    "interval": (
        "invalid_interval",
        "interval must be one of " + ", ".join(i.value for i in Interval),
    ),
    "slack_channel": ("invalid_channel", "slack_channel must be a channel id like C0123ABCD"),
    "slack_team_id": ("invalid_team", "slack_team_id must be a team id like T0123ABCD"),
    "reason": ("invalid_reason", "reason must be text of at most 500 characters"),
}

app = APIGatewayRestResolver()


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def set_admission(admit: Admit | None) -> None:
    """Replace the admission hook; None restores the deployment's policy."""
    global _admit
    _admit = admit or admit_by_policy


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps({"error": {"code": code, "message": message}}),
        headers=headers or {},
    )


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=JSON, body=json.dumps(body), headers=headers)


def _store() -> CheckStore:
    return cached_store_from_env()


def _requester() -> Requester:
    identity = app.current_event.request_context.identity
    return Requester(source=Source.API, api_key_id=identity.api_key_id or None)


def _domain(text: str) -> Domain:
    return to_domain(unquote(text).strip())


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON body, checked against ``schema`` (its defaults filled in)."""
    try:
        raw = app.current_event.decoded_body or ""
    except UnicodeDecodeError as exc:  # found by schemathesis: bytes that are not UTF-8
        raise ApiError(400, "invalid_json", "the request body is not UTF-8 JSON") from exc
    if len(raw.encode()) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the request body is over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from exc
    # Imported on the first body rather than with the module: GETs never need it.
    from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

    try:
        checked: dict[str, Any] = validate(event=body, schema=schema)
    except SchemaValidationError as exc:
        raise _to_body_error(exc, schema) from None
    return checked


def _to_body_error(exc: SchemaValidationError, schema: dict[str, Any]) -> ApiError:
    """The 400 for a body its schema refused, naming the field at fault.

    ``exc.path`` is where in the body (``["data", "domain"]``), ``exc.rule`` the
    keyword broken (type, required, additionalProperties, ...).
    """
    path = exc.path or []
    body = exc.value if isinstance(exc.value, dict) else {}
    known = list(schema["properties"])
    field = path[1] if len(path) >= 2 else None
    if exc.rule == "required":
        field = next((name for name in schema["required"] if name not in body), None)
    if field in FIELD_ERRORS:
        return ApiError(400, *FIELD_ERRORS[field])
    if exc.rule == "additionalProperties":
        extra = ", ".join(sorted(set(body) - set(known)))
        message = f"unknown field {extra}; the body takes {', '.join(known)}"
        return ApiError(400, "invalid_body", message)
    if path == ["data"] and exc.rule == "type":
        return ApiError(400, "invalid_body", "the request body must be a JSON object")
    return ApiError(400, "invalid_body", str(exc.validation_message))


def _base_path() -> str:
    """What the client's URL has before the API's own paths: ``/v1`` on execute-api.

    A REST API event's ``path`` is the resource path (``/checks``) while
    ``requestContext.path`` is the path the client asked for (``/v1/checks``, the
    stage first); a link without the stage would be answered 403 by API Gateway.
    Segments are counted rather than strings compared, as the two may differ in
    percent-encoding. Equal paths (the local stack, a custom domain mapped at its
    root) mean no prefix.
    """
    event = app.current_event
    seen = (event.request_context.path or "").split("/")
    extra = len(seen) - len(event.path.split("/"))
    return "/".join(seen[: extra + 1]) if extra > 0 else ""


def _href(collection: str, *names: str) -> str:
    """A link to one resource of the API as the client sees it: ``/v1/checks/{domain}/{id}``."""
    return f"{_base_path()}/{collection}" + "".join(f"/{quote(n, safe='')}" for n in names)


def _summary(stored: StoredCheck) -> dict[str, Any]:
    r = stored.report
    return {
        "check_id": r.check_id,
        "checked_at": r.checked_at,
        "verdict": r.verdict.value,
        "grade": r.grade,
        "source": stored.requester.source.value,
        "href": _href("checks", r.domain, r.check_id),
    }


def _watch_json(w: Watch) -> dict[str, Any]:
    return {
        "domain": w.domain,
        "interval": w.interval.value,
        "slack_channel": w.slack_channel,
        "next_due": w.next_due,
        "created_at": w.created_at,
        "last_check_id": w.last_check_id,
        "last_verdict": w.last_verdict,
    }


# --- routes -------------------------------------------------------------------
@app.post("/checks")
def create_check() -> Response:
    body = _body(CHECK_REQUEST)
    domain = to_domain(body["domain"].strip())
    result = request_check(
        domain, _requester(), store=_store(), settings=settings_from_env(), admit=_admit
    )
    report = result.report
    headers = {
        "Location": _href("checks", report["domain"], report["check_id"]),
        CACHED_HEADER: "true" if result.cached else "false",
    }
    if result.cached:
        # A check of the same domain moments ago is answered from the store (200);
        # Age (RFC 9111) says how old that answer is, in seconds.
        age = to_age_s(report["checked_at"])
        headers["Age"] = str(max(0, int(age)) if math.isfinite(age) else 0)
    return _json(200 if result.cached else 201, report, headers)


@app.get("/checks/<domain>")
def domain_checks(domain: str) -> Response:
    target = _domain(domain)
    params = app.current_event.query_string_parameters or {}
    try:
        limit = int(params.get("limit") or 20)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError(400, "invalid_limit", f"limit must be a number from 1 to {MAX_PAGE}")
    store = _store()
    page = store.history(target.ascii, limit=limit, cursor=params.get("cursor") or None)
    if not page.items and not params.get("cursor"):
        raise ApiError(404, "not_found", f"no stored checks for {target.ascii}")
    latest = store.latest(target.ascii) if params.get("cursor") else page.items[0]
    return _json(
        200,
        {
            "domain": target.ascii,
            "latest": _report_json(latest) if latest else None,
            "history": [_summary(s) for s in page.items],
            "cursor": page.cursor,
        },
    )


@app.get("/checks/<domain>/<check_id>")
def one_check(domain: str, check_id: str) -> Response:
    target = _domain(domain)
    check_id = unquote(check_id)
    if not is_accepted_check_id(check_id):
        # DynamoDB refuses an over-long key: a bad id must not reach it (a 500).
        raise ApiError(400, "invalid_check_id", "a check id is 1 to 64 letters, digits or '-'")
    stored = _store().get_check(target.ascii, check_id)
    if stored is None:
        raise ApiError(404, "not_found", f"no check {check_id} for {target.ascii}")
    return _json(200, _report_json(stored))


@app.get("/watches")
def list_watches() -> Response:
    return _json(200, {"watches": [_watch_json(w) for w in _store().watches()]})


@app.put("/watches/<domain>")
def put_watch(domain: str) -> Response:
    target = _domain(domain)
    # The schema decides the whole body: interval (default filled in), channel and team ids.
    body = _body(WATCH_REQUEST)
    interval = Interval(body["interval"])
    channel = body.get("slack_channel")
    team = body.get("slack_team_id")
    store = _store()
    requester = _requester()
    admit_watch(target, requester, store, settings_from_env())
    existing = store.get_watch(target.ascii)
    watch = store.put_watch(
        Watch(
            domain=target.ascii,
            interval=interval,
            slack_channel=channel,
            slack_team_id=team,
            created_at=existing.created_at if existing else "",
            created_by=existing.created_by if existing else requester,
            next_due=existing.next_due if existing else "",
            last_check_id=existing.last_check_id if existing else None,
            last_verdict=existing.last_verdict if existing else None,
        )
    )
    location = {"Location": _href("watches", target.ascii)}
    return _json(200 if existing else 201, _watch_json(watch), location)


@app.delete("/watches/<domain>")
def delete_watch(domain: str) -> Response:
    target = _domain(domain)
    if not audit.remove_watch(_store(), target.ascii, _requester()):
        raise ApiError(404, "not_found", f"{target.ascii} is not watched")
    return Response(status_code=204, content_type=JSON, body="")


# --- compliance (docs/compliance.md) -------------------------------------------
@app.get("/verification/<domain>")
def verification(domain: str) -> Response:
    from bannercheck.policy import verify_instructions

    target = _domain(domain)
    decision = verify_instructions(target.ascii, _requester(), store=_store())
    if decision.txt_name is None or decision.txt_value is None:
        raise ApiError(404, "not_found", decision.message)
    record = {"name": decision.txt_name, "type": "TXT", "value": decision.txt_value}
    return _json(200, {"domain": target.ascii, "record": record, "instructions": decision.how_to})


def _require_admin(requester: Requester, what: str, domain: str, action: audit.Action) -> None:
    if not audit.is_admin(requester):
        message = f"{what} needs an admin API key (AdminApiKeyIds)"
        # A refused attempt to read the trail or to erase data is on the record too.
        audit.AuditTrail(_store()).record(
            requester, domain, action=action, allowed=False, decision="not_admin", detail=message
        )
        raise ApiError(403, "refused", message)


@app.get("/audit")
def audit_trail() -> Response:
    requester = _requester()
    _require_admin(requester, "the audit trail", "*", audit.Action.EXPORT)
    params = app.current_event.query_string_parameters or {}
    trail = audit.AuditTrail(_store())
    try:
        since, until = audit.to_range(params.get("since"), params.get("until"))
        records, next_since = trail.records_page(since, until)
        content_type, body = audit.to_export(records, params.get("format") or "json")
    except ValueError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from None
    # Reading the trail is itself on the record.
    trail.record(
        requester,
        "*",
        action=audit.Action.EXPORT,
        allowed=True,
        decision="admin",
        detail=f"{since.isoformat()} .. {until.isoformat()}",
    )
    # Capped, never silently: the header says where the next export starts.
    headers = {NEXT_SINCE_HEADER: next_since} if next_since else None
    return Response(status_code=200, content_type=content_type, body=body, headers=headers)


@app.delete("/checks/<domain>")
def erase_checks(domain: str) -> Response:
    target = _domain(domain)
    requester = _requester()
    _require_admin(requester, "erasing stored checks", target.ascii, audit.Action.ERASE)
    deleted = audit.erase_domain(_store(), target.ascii, requester)
    return _json(200, {"domain": target.ascii, "deleted": deleted})


def _opt_out_json(o: OptOut) -> dict[str, Any]:
    return {
        "domain": o.domain,
        "added_at": o.added_at,
        "added_by": o.added_by.principal,
        "source": o.added_by.source.value,
        "reason": o.reason,
    }


def _record_admin(
    requester: Requester, domain: str, action: audit.Action, decision: str, detail: str = ""
) -> None:
    audit.AuditTrail(_store()).record(
        requester, domain, action=action, allowed=True, decision=decision, detail=detail
    )


@app.get("/opt-outs")
def list_opt_outs() -> Response:
    requester = _requester()
    _require_admin(requester, "the opt-out list", "*", audit.Action.LIST_OPT_OUTS)
    opt_outs = [_opt_out_json(o) for o in _store().opt_outs()]
    _record_admin(requester, "*", audit.Action.LIST_OPT_OUTS, "admin")
    return _json(200, {"opt_outs": opt_outs})


def _opt_out_domain(text: str) -> Domain:
    # ".example.com" as in BANNERCHECK_OPT_OUT: every opt-out covers the names below.
    return to_domain(unquote(text).strip().removeprefix("."))


@app.put("/opt-outs/<domain>")
def put_opt_out(domain: str) -> Response:
    target = _opt_out_domain(domain)
    requester = _requester()
    _require_admin(requester, "adding an opt-out", target.ascii, audit.Action.OPT_OUT)
    reason = _body(OPT_OUT_REQUEST).get("reason", "").strip()
    stored, created = _store().put_opt_out(target.ascii, requester, reason)
    decision = "opted_out" if created else "opt_out_replaced"
    _record_admin(requester, target.ascii, audit.Action.OPT_OUT, decision, reason)
    location = {"Location": _href("opt-outs", target.ascii)}
    return _json(201 if created else 200, _opt_out_json(stored), location)


@app.delete("/opt-outs/<domain>")
def delete_opt_out(domain: str) -> Response:
    target = _opt_out_domain(domain)
    requester = _requester()
    _require_admin(requester, "lifting an opt-out", target.ascii, audit.Action.LIFT_OPT_OUT)
    lifted = _store().delete_opt_out(target.ascii)
    decision = "lifted" if lifted else "not_opted_out"
    _record_admin(requester, target.ascii, audit.Action.LIFT_OPT_OUT, decision)
    if not lifted:
        raise ApiError(404, "not_found", f"{target.ascii} has no opt-out")
    return Response(status_code=204, content_type=JSON, body="")


def _report_json(stored: StoredCheck) -> Any:
    from bannercheck.codec import to_dict

    return to_dict(stored.report)


# --- errors -------------------------------------------------------------------
@app.exception_handler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return _error(exc.status, exc.code, exc.message)


@app.exception_handler(DomainError)
def _bad_domain(exc: DomainError) -> Response:
    return _error(400, "invalid_domain", str(exc))


@app.exception_handler(CursorError)
def _bad_cursor(exc: CursorError) -> Response:
    return _error(400, "invalid_cursor", str(exc))


@app.exception_handler(AdmissionError)
def _not_admitted(exc: AdmissionError) -> Response:
    headers = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    return _error(exc.status, exc.code, str(exc), headers)


@app.exception_handler(ProbeInvokeError)
def _probe_failed(exc: ProbeInvokeError) -> Response:
    log.error("probe invoke failed: %s", exc)
    return _error(502, "probe_failed", "the check could not be run; try again later")


@app.not_found
def _not_found(exc: Exception) -> Response:
    return _error(404, "not_found", "no such resource")


@app.exception_handler(Exception)
def _internal(exc: Exception) -> Response:
    # The outermost boundary: a bug of ours must still answer in the API's shape.
    log.exception("unhandled error")
    return _error(500, "internal", "internal error; it has been logged")
