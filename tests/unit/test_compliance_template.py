"""Compliance promises that live in template.yaml: encryption, retention, least
privilege, nothing public but the API and the Slack endpoint, an alarm on the DLQ."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from bannercheck.cfn import load_template
from bannercheck.store import DEFAULT_RETENTION_DAYS, TTL

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

# SAM policy templates that name one resource each; anything else needs a reason here.
# The table's permissions are explicit statements instead (see DYNAMODB_ACTIONS):
# SAM's DynamoDB templates grant Scan and batch writes nobody needs.
SCOPED_POLICY_TEMPLATES = {
    "LambdaInvokePolicy": "FunctionName",
    "SQSSendMessagePolicy": "QueueName",
    "SQSPollerPolicy": "QueueName",
    "AWSSecretsManagerGetSecretValuePolicy": "SecretArn",
}
PUBLIC_EVENT_TYPES = {"Api", "HttpApi", "FunctionUrl"}
# The DynamoDB calls each function's code paths make (CheckStore, AuditTrail,
# RateLimiter), from reading them: moto and dynalite enforce no IAM, so a missing
# action would only show in AWS. tests/functional/test_deployed_env.py records the
# calls the dispatcher and the probe really make and compares them with the template.
DYNAMODB_ACTIONS = {
    # checks, history, watches, audit export, erasure (delete), claims, rate counters,
    # the opt-outs (GET/PUT/DELETE /opt-outs; BatchGetItem: the ones covering a domain)
    "ApiFunction": {"GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"},
    # admission (audit, rate counters, claims, opt-outs), history, watch/unwatch, buttons
    "SlackFunction": {"GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"},
    # get/put the check, claims and address leases, the watch's last result
    "ProbeFunction": {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},
    # due watches, advance_watch, the audit record, the opt-outs covering a due domain
    "DispatchFunction": {"Query", "UpdateItem", "PutItem", "BatchGetItem"},
}
# Partition keys a function may delete where it must not delete stored checks
# (store.py: claims are CLAIM#<key>, watches live under WATCH).
DELETABLE_KEYS = {
    "SlackFunction": {"CLAIM#*", "WATCH"},
    "ProbeFunction": {"CLAIM#*"},
}
# Only the API erases (DELETE /checks/{domain}, DELETE /watches/{domain}) without a key limit.
UNLIMITED_DELETE = {"ApiFunction"}


@cache
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    res: dict[str, dict[str, Any]] = template()["Resources"]
    return {k: v for k, v in res.items() if kind is None or v["Type"] == kind}


def functions() -> dict[str, dict[str, Any]]:
    return resources("AWS::Serverless::Function")


def _ref_name(value: Any) -> str | None:
    """The logical id a !Ref / !GetAtt points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "GetAtt" in value:
            target = value["GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


# --- data at rest ----------------------------------------------------------------------
def test_table_is_encrypted_with_kms() -> None:
    sse = resources()["Table"]["Properties"]["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS"


def test_queues_are_encrypted() -> None:
    queues = resources("AWS::SQS::Queue")
    assert queues
    for name, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name


def test_retention_is_enforced_by_ttl_and_a_parameter() -> None:
    ttl = resources()["Table"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": TTL, "Enabled": True}
    param = template()["Parameters"]["RetentionDays"]
    assert param["Default"] == DEFAULT_RETENTION_DAYS == 90
    env = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert env["RETENTION_DAYS"] == {"Ref": "RetentionDays"}


# --- what is reachable from the internet --------------------------------------------------
def test_only_the_api_and_the_slack_endpoint_are_public() -> None:
    public: list[tuple[str, str, Any]] = []
    for name, fn in functions().items():
        assert "FunctionUrlConfig" not in fn["Properties"], name
        for event in (fn["Properties"].get("Events") or {}).values():
            if event["Type"] in PUBLIC_EVENT_TYPES:
                props = event["Properties"]
                api = _ref_name(props.get("RestApiId") or props.get("ApiId"))
                public.append((name, event["Type"], api))
    assert public, "no API events found"
    assert {(t, api) for _, t, api in public} <= {("Api", "RestApi"), ("HttpApi", "SlackHttpApi")}
    slack = [n for n, t, _ in public if t == "HttpApi"]
    assert set(slack) == {"SlackFunction"}
    for forbidden in ("AWS::Lambda::Url", "AWS::S3::Bucket", "AWS::ApiGatewayV2::Api"):
        assert not resources(forbidden), forbidden
    for name, perm in resources("AWS::Lambda::Permission").items():
        assert perm["Properties"].get("Principal") != "*", name


def test_every_rest_route_needs_an_api_key() -> None:
    api = resources()["RestApi"]["Properties"]
    assert api["Auth"]["ApiKeyRequired"] is True
    for fn in functions().values():
        for event in (fn["Properties"].get("Events") or {}).values():
            if event["Type"] == "Api":
                auth = event["Properties"].get("Auth") or {}
                assert auth.get("ApiKeyRequired", True) is True, event


def test_slack_endpoint_is_one_post_route() -> None:
    events = functions()["SlackFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Path"], e["Properties"]["Method"].lower()) for e in events.values()}
    assert routes == {("/slack/events", "post")}


def test_only_the_probe_reaches_smtp() -> None:
    in_vpc = [n for n, fn in functions().items() if "VpcConfig" in fn["Properties"]]
    assert in_vpc == ["ProbeFunction"]
    group = resources()["ProbeSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group
    ports = {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in group["SecurityGroupEgress"]}
    assert ports <= {("tcp", 25, 25), ("tcp", 443, 443), ("udp", 53, 53), ("tcp", 53, 53)}


# --- least privilege ----------------------------------------------------------------------
def _env(fn: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = fn["Properties"].get("Environment", {}).get("Variables", {})
    return variables


def _policies(fn: dict[str, Any]) -> list[Any]:
    policies = fn["Properties"].get("Policies") or []
    return policies if isinstance(policies, list) else [policies]


def test_function_policies_are_scoped_templates_only() -> None:
    defined = set(template()["Resources"])
    for name, fn in functions().items():
        assert "Role" not in fn["Properties"], f"{name}: a hand-made role escapes this test"
        for policy in _policies(fn):
            assert isinstance(policy, dict), f"{name}: managed policy {policy!r}"
            (kind, args), *rest = policy.items()
            assert not rest, f"{name}: one policy template per list entry"
            if kind == "Statement":
                for stmt in args:
                    assert stmt.get("Resource") not in ("*", ["*"]), f"{name}: {stmt}"
                    assert "*" not in str(stmt.get("Action")), f"{name}: {stmt}"
                continue
            assert kind in SCOPED_POLICY_TEMPLATES, f"{name}: {kind}"
            target = _ref_name(args[SCOPED_POLICY_TEMPLATES[kind]])
            assert target in defined, f"{name}: {kind} is not scoped to a resource of this stack"


def _grants(name: str) -> set[tuple[str, str | None]]:
    fn = functions()[name]
    out = set()
    for policy in _policies(fn):
        for kind, args in policy.items():
            if kind in SCOPED_POLICY_TEMPLATES:
                out.add((kind, _ref_name(args[SCOPED_POLICY_TEMPLATES[kind]])))
    return out


def test_each_function_gets_what_it_needs_and_no_more() -> None:
    secrets = "AWSSecretsManagerGetSecretValuePolicy"
    invoke = "LambdaInvokePolicy"
    # The bot token posts messages: only the probe (delivery, alerts) holds it.
    holders = {n for n in functions() if (secrets, "SlackBotToken") in _grants(n)}
    assert holders == {"ProbeFunction"}
    assert {n for n in functions() if (secrets, "SlackSigningSecret") in _grants(n)} == {
        "SlackFunction"
    }
    # The verification key: every function that decides who may check what, the
    # dispatcher included (it judges each watch again under Policy=verified).
    assert {n for n in functions() if (secrets, "VerificationSecret") in _grants(n)} == {
        "ApiFunction",
        "SlackFunction",
        "DispatchFunction",
    }
    invokers = {n for n in functions() if any(k == invoke for k, _ in _grants(n))}
    assert invokers <= {"ApiFunction", "SlackFunction"}
    assert all((invoke, "ProbeFunction") in _grants(n) for n in invokers)
    assert {n for n in functions() if any(k == "SQSSendMessagePolicy" for k, _ in _grants(n))} == {
        "DispatchFunction"
    }


def _dynamodb_statements(name: str) -> list[dict[str, Any]]:
    out = []
    for policy in _policies(functions()[name]):
        for stmt in policy.get("Statement", []):
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            if any(a.startswith("dynamodb:") for a in actions):
                out.append({**stmt, "Action": actions})
    return out


def dynamodb_actions(name: str) -> set[str]:
    """The DynamoDB actions ``name`` is granted (``Query``, ``PutItem``, ...)."""
    return {
        a.removeprefix("dynamodb:") for stmt in _dynamodb_statements(name) for a in stmt["Action"]
    }


def test_each_function_has_exactly_the_dynamodb_actions_its_code_uses() -> None:
    assert set(DYNAMODB_ACTIONS) == set(functions())
    for name in functions():
        assert not any(k.startswith("DynamoDB") for p in _policies(functions()[name]) for k in p), (
            f"{name}: a SAM DynamoDB policy template (Crud includes Scan, BatchWriteItem)"
        )
        assert dynamodb_actions(name) == DYNAMODB_ACTIONS[name], name
        for stmt in _dynamodb_statements(name):
            assert stmt["Effect"] == "Allow"
            resource = stmt["Resource"]
            if resource == {"GetAtt": "Table.Arn"}:
                continue
            # The table's indexes serve queries only.
            assert resource == {"Sub": "${Table.Arn}/index/*"}, f"{name}: {resource}"
            assert stmt["Action"] == ["dynamodb:Query"], f"{name}: {stmt}"


def test_only_the_api_deletes_stored_checks() -> None:
    for name in functions():
        deletes = [s for s in _dynamodb_statements(name) if "dynamodb:DeleteItem" in s["Action"]]
        if name in UNLIMITED_DELETE:
            assert deletes and all("Condition" not in s for s in deletes), name
            continue
        keys: set[str] = set()
        for stmt in deletes:
            # DeleteItem alone, limited to the partition keys of claims (and watches).
            assert stmt["Action"] == ["dynamodb:DeleteItem"], f"{name}: {stmt}"
            condition = stmt["Condition"]
            assert list(condition) == ["ForAllValues:StringLike"], f"{name}: {condition}"
            keys |= set(condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        assert keys == DELETABLE_KEYS.get(name, set()), name
    assert "DeleteItem" not in DYNAMODB_ACTIONS["DispatchFunction"]
    assert not any("BatchWriteItem" in a or "Scan" in a for a in DYNAMODB_ACTIONS.values())


# --- faults ---------------------------------------------------------------------------------
def test_probe_queue_has_a_dead_letter_queue_with_an_alarm() -> None:
    queue = resources()["ProbeQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert _ref_name(redrive["deadLetterTargetArn"]) == "ProbeDeadLetterQueue"
    assert 1 <= int(redrive["maxReceiveCount"]) <= 10
    alarms = [
        a["Properties"]
        for a in resources("AWS::CloudWatch::Alarm").values()
        if any(
            d.get("Name") == "QueueName" and _ref_name(d.get("Value")) == "ProbeDeadLetterQueue"
            for d in a["Properties"].get("Dimensions", [])
        )
    ]
    assert alarms, "no CloudWatch alarm watches the dead-letter queue"
    alarm = alarms[0]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["ComparisonOperator"] in {
        "GreaterThanThreshold",
        "GreaterThanOrEqualToThreshold",
    }
    threshold = float(alarm["Threshold"])
    assert threshold == 0 or (threshold == 1 and "OrEqual" in alarm["ComparisonOperator"])
    # An alarm nobody hears is no alarm: it notifies a topic of this stack.
    topics = resources("AWS::SNS::Topic")
    actions = {_ref_name(a) for a in alarm.get("AlarmActions", [])}
    assert actions and actions <= set(topics), alarm.get("AlarmActions")


def test_alarms_reach_the_alarm_email_when_one_is_given() -> None:
    params = template()["Parameters"]
    email = params["AlarmEmail"]
    assert email["Default"] == ""
    pattern = re.compile(email["AllowedPattern"])  # CloudFormation matches it whole
    assert pattern.fullmatch("") and pattern.fullmatch("ops@example.com")
    assert not pattern.fullmatch("ops") and not pattern.fullmatch("a b@example.com")
    assert template()["Conditions"]["HasAlarmEmail"] == {
        "Not": [{"Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    [subscription] = resources("AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"
    props = subscription["Properties"]
    assert props["Protocol"] == "email"
    assert props["Endpoint"] == {"Ref": "AlarmEmail"}
    alarms = resources("AWS::CloudWatch::Alarm").values()
    assert {_ref_name(props["TopicArn"])} == {
        _ref_name(a) for alarm in alarms for a in alarm["Properties"]["AlarmActions"]
    }
    assert _ref_name(template()["Outputs"]["AlarmTopicArn"]["Value"]) == _ref_name(
        props["TopicArn"]
    )


def test_policy_settings_reach_the_deciding_functions() -> None:
    params = template()["Parameters"]
    assert params["Policy"]["Default"] == "open"
    assert set(params["Policy"]["AllowedValues"]) == {"open", "allowlist", "verified"}
    shared = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert shared["BANNERCHECK_POLICY"] == {"Ref": "Policy"}
    assert shared["BANNERCHECK_OPT_OUT"] == {"Ref": "OptOutDomains"}
    assert shared["BANNERCHECK_REPEAT_INTERVAL"] == {"Ref": "RepeatIntervalSeconds"}
    # The verification secret lives in Secrets Manager; the functions that decide
    # requests (and the dispatcher, which decides watches) get only its name.
    holders = {n: _env(fn).get("BANNERCHECK_VERIFY_SECRET_NAME") for n, fn in functions().items()}
    assert {n for n, v in holders.items() if v is not None} == {
        "ApiFunction",
        "SlackFunction",
        "DispatchFunction",
    }
    assert {_ref_name(v) for v in holders.values() if v is not None} == {"VerificationSecret"}
    assert not any("BANNERCHECK_VERIFY_SECRET" in _env(fn) for fn in functions().values())
    assert "BANNERCHECK_VERIFY_SECRET" not in shared
    assert "BANNERCHECK_VERIFY_SECRET_NAME" not in shared  # not the probe's
    secret = resources()["VerificationSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    # Generated, not typed in: it is only an HMAC key, and a parameter would show it.
    assert "SecretString" not in secret["Properties"]
    assert int(secret["Properties"]["GenerateSecretString"]["PasswordLength"]) >= 32
    assert not any("secret" in p.lower() for p in template()["Parameters"])
    api_env = _env(functions()["ApiFunction"])
    assert api_env["BANNERCHECK_ADMIN_KEY_IDS"] == {"Ref": "AdminApiKeyIds"}
