"""Each function's handler called with the sample events in ``events/``.

The events are the ones a deployment receives (REST API, SQS batch, Scheduler,
direct invoke), adjusted only where they name a target: lab domains replace
the public examples, and reply URLs point at a recording server on loopback.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from bannercheck import invoke
from bannercheck.dispatch import to_schedule_name
from bannercheck.ids import new_check_id
from bannercheck.local.events import to_response, to_rest_event, to_scheduler_event
from bannercheck.probe_job import BadPayloadError, to_job, to_payload
from bannercheck.store import CheckStore, Requester, Source, Watch, to_timestamp

from tests.fixtures.dynamodb import DynamoServer
from tests.reportcheck import assert_valid_report
from tests.slack_mock.server import MockSlack

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def function(name: str) -> ModuleType:
    """functions/<name>/app.py as Lambda loads it: a module of its own."""
    import importlib.util

    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"fn_{name}_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def context(name: str) -> invoke.LocalContext:
    return invoke.LocalContext.new(name)


@pytest.fixture
def store(stack_env: DynamoServer) -> CheckStore:
    return CheckStore(os.environ["TABLE_NAME"], client=stack_env.client())


def test_all_triggers_have_a_sample_event() -> None:
    names = {p.name for p in EVENTS.glob("*.json")}
    assert {
        "api-post-checks.json",
        "api-get-domain-checks.json",
        "slack-command.json",
        "sqs-probe-batch.json",
        "scheduler-dispatch.json",
        "probe-invoke.json",
    } <= names
    slack = load_event("slack-command.json")
    assert slack["version"] == "2.0" and slack["isBase64Encoded"] is True
    form = base64.b64decode(slack["body"]).decode()
    assert "command=%2Fbannercheck" in form


def test_local_tick_sends_what_the_templates_schedule_sends() -> None:
    # ScheduleV2 with an Input delivers that JSON as is (no "Scheduled Event" envelope).
    assert to_scheduler_event("bannercheck") == load_event("scheduler-dispatch.json")
    assert to_schedule_name(to_scheduler_event()) == "bannercheck-local-dispatch"


def test_api_event_post_then_get(store: CheckStore) -> None:
    api = function("api")
    event = load_event("api-post-checks.json")
    event["body"] = json.dumps({"domain": "good.test"})
    status, headers, body = to_response(api.handler(event, context("api")))
    assert status == 201, body
    report = json.loads(body)
    assert_valid_report(report)
    # The sample is what the execute-api URL .../v1 delivers: links keep the stage,
    # or API Gateway answers 403 to a client that follows them.
    assert event["requestContext"]["path"] == "/v1" + event["path"]
    assert headers["Location"] == f"/v1/checks/good.test/{report['check_id']}"

    # Who asked: the API key id API Gateway put in the request context.
    key = event["requestContext"]["identity"]["apiKeyId"]
    audit = store.by_requester(Requester(source=Source.API, api_key_id=key))
    assert [s.report.check_id for s in audit.items] == [report["check_id"]]

    get = load_event("api-get-domain-checks.json")
    get["path"] = "/checks/good.test"
    get["pathParameters"] = {"domain": "good.test"}
    get["requestContext"]["path"] = "/v1/checks/good.test"
    status, _, body = to_response(api.handler(get, context("api")))
    assert status == 200
    listing = json.loads(body)
    assert listing["latest"]["check_id"] == report["check_id"]
    assert [h["href"] for h in listing["history"]] == [headers["Location"]]


@pytest.mark.parametrize("stage", ["v1", "prod"])
def test_links_carry_the_stage_the_request_came_through(store: CheckStore, stage: str) -> None:
    api = function("api")
    event = to_rest_event("PUT", "/watches/good.test", body=b"{}", api_key_id="k1", stage=stage)
    assert event["requestContext"]["path"] == f"/{stage}/watches/good.test"
    status, headers, body = to_response(api.handler(event, context("api")))
    assert status == 201, body
    assert headers["Location"] == f"/{stage}/watches/good.test"

    # Served at the root (the local stack, a custom domain's root mapping): no prefix.
    event = to_rest_event("PUT", "/watches/good.test", body=b"{}", api_key_id="k1", base_path="")
    status, headers, _ = to_response(api.handler(event, context("api")))
    assert (status, headers["Location"]) == (200, "/watches/good.test")


def test_api_event_with_bad_input_is_400_json(store: CheckStore) -> None:
    api = function("api")
    event = load_event("api-post-checks.json")
    event["body"] = json.dumps({"domain": "not a domain"})
    status, headers, body = to_response(api.handler(event, context("api")))
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "invalid_domain"


@pytest.mark.parametrize(
    ("body", "code"),
    [([{"domain": "good.test"}], "invalid_body"), ({"domain": 7}, "invalid_domain")],
)
def test_api_event_with_a_body_of_the_wrong_shape_is_400_json(
    store: CheckStore, body: Any, code: str
) -> None:
    api = function("api")
    event = load_event("api-post-checks.json")
    event["body"] = json.dumps(body)
    status, headers, raw = to_response(api.handler(event, context("api")))
    assert (status, headers["Content-Type"]) == (400, "application/json")
    assert json.loads(raw)["error"]["code"] == code


def _sqs_event(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    event = load_event("sqs-probe-batch.json")
    template = event["Records"][0]
    event["Records"] = [
        {
            **template,
            "messageId": str(uuid.uuid4()),
            "body": p if isinstance(p, str) else json.dumps(p),
        }
        for p in payloads
    ]
    return event


def test_sqs_batch_stores_each_check_once_and_reports_only_bad_records(
    store: CheckStore,
    slack: MockSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    probe = function("probe")
    sample = load_event("sqs-probe-batch.json")
    scheduled, from_slack = (json.loads(r["body"]) for r in sample["Records"])
    scheduled = {**scheduled, "domain": "single.test", "check_id": new_check_id()}
    from_slack = {**from_slack, "domain": "good.test", "check_id": new_check_id()}
    event = _sqs_event([scheduled, from_slack, "{not json", {"domain": "good.test"}])
    capsys.readouterr()

    result = probe.handler(event, context("probe"))

    bad = {event["Records"][2]["messageId"], event["Records"][3]["messageId"]}
    assert {f["itemIdentifier"] for f in result["batchItemFailures"]} == bad
    for payload in (scheduled, from_slack):
        stored = store.get_check(payload["domain"], payload["check_id"])
        assert stored is not None
        assert stored.requester.source.value == payload["requester"]["source"]
        assert_valid_report(json.loads(json.dumps(_as_dict(stored.report))))
    # The Slack requester's channel got the findings, after the check was stored.
    [post] = slack.wait_for(1, path="/api/chat.postMessage")
    assert post.json["channel"] == from_slack["reply_to"]["channel"]
    assert [d["ok"] for d in store.deliveries("good.test", from_slack["check_id"])] == [True]

    # EMF metrics for the two checks that ran.
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf, "no metrics were flushed"
    names = {
        m["Name"] for doc in emf for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert {"ChecksRun", "ProbeLatency"} <= names
    assert sum(sum(_as_list(doc.get("ChecksRun", 0))) for doc in emf) == 2
    # Findings by severity: one count per severity, summed over the two stored reports.
    expected: dict[str, int] = {}
    for payload in (scheduled, from_slack):
        stored = store.get_check(payload["domain"], payload["check_id"])
        assert stored is not None
        for finding in stored.report.findings:
            metric = f"Findings_{finding.severity.value}"
            expected[metric] = expected.get(metric, 0) + 1
    assert expected, "the lab domains produce findings"
    emitted = {n: sum(sum(_as_list(doc.get(n, 0))) for doc in emf) for n in names}
    assert {n: v for n, v in emitted.items() if n.startswith("Findings_")} == expected

    # SQS redelivers the batch: nothing runs again, nothing is posted again.
    again = probe.handler(_sqs_event([scheduled, from_slack]), context("probe"))
    assert again["batchItemFailures"] == []
    assert len(store.history("good.test").items) == 1
    assert len(slack.requests(path="/api/chat.postMessage")) == 1


def test_a_queued_check_records_when_it_was_asked_for(store: CheckStore) -> None:
    schedule = Requester(source=Source.SCHEDULE, schedule_name="nightly-dispatch")
    before = to_timestamp()
    payload = to_payload("single.test", schedule)
    assert before <= payload["requested_at"] <= to_timestamp()
    # The message waited in the queue: asked for long before it ran.
    payload["requested_at"] = "2000-01-01T00:00:00.000Z"
    probe = function("probe")

    assert probe.handler(_sqs_event([payload]), context("probe")) == {"batchItemFailures": []}
    stored = store.get_check("single.test", payload["check_id"])
    assert stored is not None and stored.requested_at == payload["requested_at"]
    assert stored.report.checked_at > stored.requested_at
    [audited] = store.by_requester(schedule).items
    assert audited.requested_at == payload["requested_at"]

    # A malformed time is a bad record, not a made-up one.
    with pytest.raises(BadPayloadError, match="requested_at"):
        to_job({**payload, "requested_at": "yesterday"})


def _as_list(value: Any) -> list[float]:
    return value if isinstance(value, list) else [value]


def _as_dict(report: Any) -> Any:
    from bannercheck.codec import to_dict

    return to_dict(report)


def test_direct_invoke_replies_to_the_response_url(store: CheckStore, slack: MockSlack) -> None:
    probe = function("probe")
    payload = load_event("probe-invoke.json")
    payload = {
        **payload,
        "domain": "good.test",
        "check_id": new_check_id(),
        "reply_to": {"kind": "slack_response_url", "url": slack.response_url("cmd")},
    }
    report = probe.handler(payload, context("probe"))
    assert_valid_report(report)
    assert store.get_check("good.test", payload["check_id"]) is not None
    [reply] = slack.wait_for(1, path=slack.response_path("cmd"))
    assert "good.test" in json.dumps(reply.json)


def test_scheduler_event_dispatches_due_watches(store: CheckStore) -> None:
    store.put_watch(Watch(domain="single.test"))
    store.put_watch(Watch(domain="good.test", next_due="2999-01-01T00:00:00.000Z"))
    dispatch = function("dispatch")
    event = load_event("scheduler-dispatch.json")

    result = dispatch.handler(event, context("dispatch"))
    assert result == {"due": 1, "queued": 1, "skipped": 0}
    invoke.wait_local(60)

    [stored] = store.history("single.test").items
    assert stored.requester.source is Source.SCHEDULE
    # The template's ScheduleV2 Input is what the function receives: it names the schedule.
    assert stored.requester.schedule_name == event["schedule"]
    watch = store.get_watch("single.test")
    assert watch is not None and watch.last_check_id == stored.report.check_id
    assert store.history("good.test").items == ()
