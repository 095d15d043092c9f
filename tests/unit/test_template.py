"""template.yaml: the linters, and what they do not check.

- cfn-lint and ``sam validate --lint`` pass (offline: dummy credentials, a region);
- every ``Ref``/``GetAtt``/``Sub`` target and every ``Condition`` exists;
- every environment variable the code of a function reads is set on that function,
  unless it is on the explicit list of optional settings (each with its default and
  documented) or the function never takes the code path that reads it;
- every permission is matched by the variable that names its resource, and the
  other way round, so a function has exactly the policies its code uses;
- no function refers to itself (a Bolt lazy self-invoke would be circular);
- the REST routes are the ones openapi.yaml documents;
- ``SmtpEgress=vpc`` sends only the probe out through the NAT gateway's Elastic IP
  (DynamoDB through a gateway endpoint), and ``none`` creates no VPC at all.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from bannercheck.cfn import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
PACKAGE = ROOT / "layers" / "bannercheck" / "bannercheck"
BIN = Path(sys.executable).parent
PSEUDO = {
    "AWS::AccountId",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
    "AWS::NotificationARNs",
}
# Resources SAM generates from the ones in the template (its documented naming).
SAM_GENERATED = {"RestApiApiKey", "RestApiUsagePlan", "RestApiUsagePlanKey", "RestApiStage"}
# Variables the Lambda runtime or the local stack sets, never the template.
RUNTIME = re.compile(r"^(AWS_.*|_HANDLER|LAMBDA_.*|BANNERCHECK_LOCAL|PORT|LAB|NO_COLOR)$")
ENV_NAME = re.compile(r"^(BANNERCHECK|SLACK|PROBE|TABLE|RETENTION|POWERTOOLS)_[A-Z0-9_]+$")
# What a function's code reaches only through a code path that function never takes.
# Each entry says why; the test fails when an entry is no longer needed.
UNREACHABLE = {
    ("ProbeFunction", "PROBE_FUNCTION_NAME"): "invoke.run_probe: request_check (API) only",
    ("ProbeFunction", "PROBE_QUEUE_URL"): "invoke.send_probe_messages: dispatch only",
    ("DispatchFunction", "PROBE_FUNCTION_NAME"): "invoke.invoke_probe/run_probe: not dispatch",
    ("ApiFunction", "PROBE_QUEUE_URL"): "invoke.send_probe_messages: dispatch only",
    ("SlackFunction", "PROBE_QUEUE_URL"): "invoke.send_probe_messages: dispatch only",
    ("ApiFunction", "SLACK_BOT_TOKEN_NAME"): "notify (deliveries, alerts): the probe only",
    ("DispatchFunction", "SLACK_BOT_TOKEN_NAME"): "notify (deliveries, alerts): the probe only",
    ("SlackFunction", "SLACK_BOT_TOKEN_NAME"): "notify (deliveries, alerts): the probe only",
    ("ApiFunction", "SLACK_SIGNING_SECRET_NAME"): "slack.secrets.signing_secret: slack only",
    ("DispatchFunction", "SLACK_SIGNING_SECRET_NAME"): "slack.secrets.signing_secret: slack only",
    ("ProbeFunction", "SLACK_SIGNING_SECRET_NAME"): "slack.secrets.signing_secret: slack only",
    ("ProbeFunction", "BANNERCHECK_VERIFY_SECRET_NAME"): "policy: admission is not the probe's",
    ("DispatchFunction", "BANNERCHECK_ADMIN_KEY_IDS"): "audit.is_admin: the API's admin routes",
    ("ProbeFunction", "BANNERCHECK_ADMIN_KEY_IDS"): "audit.is_admin: the API's admin routes",
    ("SlackFunction", "BANNERCHECK_ADMIN_KEY_IDS"): "audit.is_admin: the API's admin routes",
}
# Settings a function may leave unset: each has a safe default (README, docs/deploy.md).
# Anything else the code reads must be set on the function that reads it; in
# particular a secret's *_NAME, without which the deployed function fails.
OPTIONAL = {
    "BANNERCHECK_RESOLVER": "the system's resolvers",
    "BANNERCHECK_ALLOW_PRIVATE": "off: non-public addresses are never contacted",
    "BANNERCHECK_PRIVATE_NETWORKS": "any, once private addresses are allowed",
    "BANNERCHECK_CA_FILE": "the system's trust anchors only",
    "BANNERCHECK_SMTP_PORT": "25",
    "BANNERCHECK_EHLO_NAME": "the host's name; the template sets it where EHLO is sent",
    "BANNERCHECK_TIMEOUT": "30 s; the template sets it where checks run",
    "BANNERCHECK_DELIVERY_ATTEMPTS": "4",
    "BANNERCHECK_DELIVERY_BACKOFF": "0.5 s",
    "BANNERCHECK_POLICY_CONTACT": "the administrator of this deployment",
    "BANNERCHECK_RATE_API_KEY": "30 a minute",
    "BANNERCHECK_RATE_SLACK_USER": "10 a minute",
    "BANNERCHECK_RATE_SLACK_TEAM": "60 a minute",
    "BANNERCHECK_RATE_OTHER": "30 a minute",
    "SLACK_API_URL": "https://slack.com/api/",
    # The values themselves, for local runs and tests; in AWS the *_NAME variables
    # name Secrets Manager secrets.
    "SLACK_SIGNING_SECRET": "local runs and tests only",
    "SLACK_BOT_TOKEN": "local runs and tests only",
    "BANNERCHECK_VERIFY_SECRET": "local runs and tests only",
}
# A permission and the variable through which the code finds its resource.
POLICY_VARIABLE = {
    "LambdaInvokePolicy": ("FunctionName", "PROBE_FUNCTION_NAME"),
    "SQSSendMessagePolicy": ("QueueName", "PROBE_QUEUE_URL"),
}
SECRET_VARIABLES = (
    "SLACK_SIGNING_SECRET_NAME",
    "SLACK_BOT_TOKEN_NAME",
    "BANNERCHECK_VERIFY_SECRET_NAME",
)


@cache
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def functions() -> dict[str, dict[str, Any]]:
    return {
        name: r
        for name, r in template()["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def _walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _targets(node: Any) -> set[str]:
    """Logical ids and parameters named by Ref, GetAtt and Sub inside ``node``."""
    found: set[str] = set()
    for n in _walk(node):
        if not isinstance(n, dict):
            continue
        if "Ref" in n and isinstance(n["Ref"], str):
            found.add(n["Ref"])
        if "GetAtt" in n:
            target = n["GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        if "Sub" in n:
            text, names = (n["Sub"], {}) if isinstance(n["Sub"], str) else n["Sub"]
            for var in re.findall(r"\$\{([^}!]+)\}", text):
                if var not in names:
                    found.add(var.split(".")[0])
    return found


def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "offline",
            "AWS_SECRET_ACCESS_KEY": "offline",
            "SAM_CLI_TELEMETRY": "0",
            "SAM_CLI_CONTACT_TELEMETRY": "0",
        }
    )
    env.pop("AWS_PROFILE", None)
    return env


# --- the linters ---------------------------------------------------------------
def test_cfn_lint_passes() -> None:
    out = subprocess.run(
        [str(BIN / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_sam_validate_lint_passes_offline() -> None:
    out = subprocess.run(
        [str(BIN / "sam"), "validate", "--lint", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_offline_env(),
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is a valid SAM Template" in out.stdout


# --- references ------------------------------------------------------------------
def test_every_reference_target_exists() -> None:
    t = template()
    known = set(t["Resources"]) | set(t.get("Parameters", {})) | PSEUDO | SAM_GENERATED
    for section in ("Resources", "Outputs", "Globals", "Conditions", "Rules"):
        missing = _targets(t.get(section, {})) - known
        assert not missing, f"{section} refers to {sorted(missing)}"


def test_every_condition_used_exists() -> None:
    t = template()
    conditions = set(t.get("Conditions", {}))
    used: set[str] = set()
    for section in ("Resources", "Outputs"):
        for body in t.get(section, {}).values():
            if "Condition" in body:
                used.add(body["Condition"])
            used |= {n["If"][0] for n in _walk(body) if isinstance(n, dict) and "If" in n}
    assert used <= conditions, sorted(used - conditions)
    assert conditions <= used | _condition_deps(t), "unused conditions"


def _condition_deps(t: dict[str, Any]) -> set[str]:
    return {
        n["Condition"]
        for n in _walk(t.get("Conditions", {}))
        if isinstance(n, dict) and isinstance(n.get("Condition"), str)
    }


def test_no_function_refers_to_itself() -> None:
    for name, fn in functions().items():
        assert name not in _targets(fn["Properties"]), f"{name} refers to itself"


# --- environment variables -------------------------------------------------------
def _module_path(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != "bannercheck":
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Every bannercheck module imported anywhere in the file (lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("bannercheck")}


def closure(app: Path) -> set[Path]:
    """The files a handler's code can reach (over-approximated: every import)."""
    seen: set[Path] = set()
    todo = [app]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(path):
            target = _module_path(module)
            if target is not None and "local" not in target.relative_to(PACKAGE).parts:
                todo.append(target)
    return seen


def _reads_env(path: Path) -> tuple[set[str], set[str]]:
    """(required, optional) variables a file reads.

    ``environ["X"]`` without a ``.get("X")`` beside it is required. Any other
    variable-looking string constant in a file that touches the environment counts
    as optional (this catches names passed to helpers, as in
    ``_secret(env, "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN_NAME")``).
    """
    source = path.read_text()
    if not re.search(r"environ|getenv", source):
        return set(), set()
    required: set[str] = set()
    optional: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            target = ast.unparse(node.value)
            if target.endswith(("environ", "env")) and isinstance(node.slice.value, str):
                required.add(node.slice.value)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (ENV_NAME.match(node.value) or node.value == "TABLE_NAME")
        ):
            optional.add(node.value)
    # ``if env.get("X"): ... env["X"]`` reads X only when it is set.
    guarded = {
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    required -= guarded
    return required, optional - required


def _function_env(name: str) -> set[str]:
    globals_env = template()["Globals"]["Function"]["Environment"]["Variables"]
    own = functions()[name]["Properties"].get("Environment", {}).get("Variables", {})
    return set(globals_env) | set(own)


def _documented() -> set[str]:
    text = (ROOT / "README.md").read_text() + (ROOT / "docs" / "deploy.md").read_text()
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", text))


def _app(fn: dict[str, Any]) -> Path:
    return ROOT / fn["Properties"]["CodeUri"] / "app.py"


@pytest.mark.parametrize("name", sorted(functions()))
def test_every_variable_the_code_reads_is_set(name: str) -> None:
    fn = functions()[name]
    env = _function_env(name)
    used_exemptions = set()
    for path in closure(_app(fn)):
        required, optional = _reads_env(path)
        for var in sorted(required | (optional - set(OPTIONAL))):
            if RUNTIME.match(var) or var in env:
                continue
            assert (name, var) in UNREACHABLE, f"{name} reads {var} ({path.name}); not set"
            used_exemptions.add((name, var))
    stale = {k for k in UNREACHABLE if k[0] == name} - used_exemptions
    assert not stale, f"no longer needed: {stale}"


def test_optional_settings_are_read_documented_and_not_secret_names() -> None:
    read: set[str] = set()
    for fn in functions().values():
        for path in closure(_app(fn)):
            required, optional = _reads_env(path)
            read |= required | optional
    assert set(OPTIONAL) <= read, f"not read any more: {sorted(set(OPTIONAL) - read)}"
    undocumented = set(OPTIONAL) - _documented()
    assert not undocumented, f"document these with their defaults: {sorted(undocumented)}"
    assert not set(OPTIONAL) & set(SECRET_VARIABLES)


# --- permissions ------------------------------------------------------------------
def _policies(name: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for policy in functions()[name]["Properties"].get("Policies", []):
        assert isinstance(policy, dict) and len(policy) == 1, policy
        ((kind, args),) = policy.items()
        out.append((kind, args))
    return out


def _same_resource(a: Any, b: Any) -> bool:
    return bool(_targets(a)) and _targets(a) == _targets(b)


@pytest.mark.parametrize("name", sorted(functions()))
def test_policies_match_the_variables_naming_their_resources(name: str) -> None:
    props = functions()[name]["Properties"]
    env_values = {
        **template()["Globals"]["Function"]["Environment"]["Variables"],
        **props.get("Environment", {}).get("Variables", {}),
    }
    granted: set[str] = set()
    for kind, args in _policies(name):
        if kind == "Statement":
            # Explicit statements are for the table only (its actions: test_compliance_template).
            resources = {t for stmt in args for t in _targets(stmt["Resource"])}
            assert resources == {"Table"}, f"{name}: a statement on {resources}"
            assert _targets(env_values.get("TABLE_NAME")) == {"Table"}, f"{name}: no TABLE_NAME"
            granted.add("TABLE_NAME")
            continue
        if kind == "AWSSecretsManagerGetSecretValuePolicy":
            names = [
                v for v in SECRET_VARIABLES if _same_resource(env_values.get(v), args["SecretArn"])
            ]
            assert names, f"{name}: secret {args} is not named by any variable"
            granted.update(names)
            continue
        assert kind in POLICY_VARIABLE, f"{name}: unexpected policy {kind}"
        key, var = POLICY_VARIABLE[kind]
        assert _same_resource(env_values.get(var), args[key]), f"{name}: {kind} without {var}"
        granted.add(var)
    # And the other way: a variable naming a resource implies the permission to use it.
    for var in ("TABLE_NAME", "PROBE_FUNCTION_NAME", "PROBE_QUEUE_URL", *SECRET_VARIABLES):
        if var in env_values:
            assert var in granted, f"{name} has {var} but no permission on it"


def test_only_the_probe_has_a_vpc_and_the_sqs_source() -> None:
    for name, fn in functions().items():
        props = fn["Properties"]
        events = {e["Type"] for e in props.get("Events", {}).values()}
        assert ("VpcConfig" in props) == (name == "ProbeFunction"), name
        assert ("SQS" in events) == (name == "ProbeFunction"), name
    sqs = functions()["ProbeFunction"]["Properties"]["Events"]["Watches"]["Properties"]
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in sqs["ScalingConfig"]


def test_api_timeout_leaves_room_for_the_check_deadline() -> None:
    t = template()
    api = functions()["ApiFunction"]["Properties"]
    assert api["Timeout"] <= 29  # API Gateway's integration limit
    assert t["Parameters"]["CheckTimeoutSeconds"]["MaxValue"] < api["Timeout"]


# --- the API's documented routes ----------------------------------------------------
def test_rest_routes_are_the_openapi_paths() -> None:
    from openapi_spec_validator import validate

    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    validate(spec)
    documented = {
        (m.upper(), p) for p, ops in spec["paths"].items() for m in ops if m != "parameters"
    }
    wired = {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for e in functions()["ApiFunction"]["Properties"]["Events"].values()
        if e["Type"] == "Api"
    }
    assert wired == documented


def _gateway_body(response: dict[str, Any]) -> dict[str, Any]:
    body = response["ResponseTemplates"]["application/json"]
    # API Gateway puts messageString in as a quoted JSON string.
    data: dict[str, Any] = json.loads(body.replace("$context.error.messageString", '"Forbidden"'))
    return data


def test_gateway_errors_have_the_apis_error_shape() -> None:
    responses = template()["Resources"]["RestApi"]["Properties"]["GatewayResponses"]
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    error = spec["components"]["schemas"]["Error"]["properties"]["error"]
    codes = set(re.findall(r"[a-z_]+", error["properties"]["code"]["description"]))
    for name, response in responses.items():
        data = _gateway_body(response)
        assert set(data) == {"error"}, name
        assert set(data["error"]) == {"code", "message"}, name
        assert data["error"]["code"] in codes, name
        assert isinstance(data["error"]["message"], str) and data["error"]["message"], name


def test_an_unknown_route_is_404_not_found() -> None:
    # API Gateway reports a path or method without a route as MISSING_AUTHENTICATION_TOKEN.
    responses = template()["Resources"]["RestApi"]["Properties"]["GatewayResponses"]
    unknown = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert unknown["StatusCode"] == "404"
    data = _gateway_body(unknown)
    assert data["error"]["code"] == "not_found"
    assert "authentication" not in data["error"]["message"].lower()


# --- port 25 from AWS (SmtpEgress) ---------------------------------------------------
def _rules_pass(parameters: dict[str, str]) -> bool:
    """Evaluate the template's Rules as CloudFormation does for these parameters."""
    t = template()
    values = {n: str(p.get("Default", "")) for n, p in t["Parameters"].items()} | parameters

    def ev(node: Any) -> Any:
        if isinstance(node, str):
            return node
        ((fn, args),) = node.items()
        if fn == "Ref":
            return values[args]
        if fn == "Equals":
            return ev(args[0]) == ev(args[1])
        if fn == "Not":
            return not ev(args[0])
        if fn == "And":
            return all(ev(a) for a in args)
        if fn == "Or":
            return any(ev(a) for a in args)
        raise AssertionError(f"rule function {fn} not understood")

    return all(
        ev(a["Assert"])
        for rule in t.get("Rules", {}).values()
        if "RuleCondition" not in rule or ev(rule["RuleCondition"])
        for a in rule["Assertions"]
    )


def test_a_vpc_egress_needs_an_ehlo_name() -> None:
    assert not _rules_pass({"SmtpEgress": "vpc", "EhloName": ""})
    assert not _rules_pass({})  # the defaults: vpc, no name
    assert _rules_pass({"SmtpEgress": "vpc", "EhloName": "bannercheck-probe.example.net"})
    assert _rules_pass({"SmtpEgress": "none", "EhloName": ""})
    # With a name, the probe sends it.
    env = functions()["ProbeFunction"]["Properties"]["Environment"]["Variables"]
    assert env["BANNERCHECK_EHLO_NAME"]["If"][:2] == ["HasEhloName", {"Ref": "EhloName"}]


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template()["Resources"].items() if r["Type"] == f"AWS::EC2::{kind}"}


def _only(refs: Any) -> str:
    (target,) = _targets(refs)
    return target


def _default_route(subnet: str) -> dict[str, Any]:
    """The 0.0.0.0/0 route of the route table associated with ``subnet``."""
    [table] = [
        _only(a["Properties"]["RouteTableId"])
        for a in _of_type("SubnetRouteTableAssociation").values()
        if _only(a["Properties"]["SubnetId"]) == subnet
    ]
    [route] = [
        r["Properties"]
        for r in _of_type("Route").values()
        if _only(r["Properties"]["RouteTableId"]) == table
        and r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
    ]
    return {**route, "RouteTableId": table}


def test_smtp_egress_vpc_sends_only_the_probe_out_through_the_nat_elastic_ip() -> None:
    t = template()
    assert t["Parameters"]["SmtpEgress"]["AllowedValues"] == ["vpc", "none"]
    assert t["Conditions"]["UseVpc"] == {"Equals": [{"Ref": "SmtpEgress"}, "vpc"]}
    ec2 = {n: r for n, r in t["Resources"].items() if r["Type"].startswith("AWS::EC2::")}
    # SmtpEgress=none: no VPC, no NAT gateway to pay for.
    assert ec2 and all(r.get("Condition") == "UseVpc" for r in ec2.values()), sorted(ec2)

    (eip,) = _of_type("EIP")
    ((nat_name, nat),) = _of_type("NatGateway").items()
    (igw,) = _of_type("InternetGateway")
    assert _only(nat["Properties"]["AllocationId"]) == eip
    # The NAT gateway sits in a public subnet: its default route is the internet gateway.
    public = _only(nat["Properties"]["SubnetId"])
    assert _only(_default_route(public)["GatewayId"]) == igw

    # Only the probe is in the VPC, in private subnets whose way out is the NAT gateway.
    vpc_config = functions()["ProbeFunction"]["Properties"]["VpcConfig"]["If"]
    assert vpc_config[0] == "UseVpc" and vpc_config[2] == {"Ref": "AWS::NoValue"}
    subnets = {_only(s) for s in vpc_config[1]["SubnetIds"]}
    assert subnets and public not in subnets
    routes = [_default_route(s) for s in subnets]
    assert all("GatewayId" not in r and _only(r["NatGatewayId"]) == nat_name for r in routes)

    # DynamoDB is reached through a gateway endpoint on those route tables, not the NAT.
    [endpoint] = [
        e["Properties"]
        for e in _of_type("VPCEndpoint").values()
        if "dynamodb" in str(e["Properties"]["ServiceName"])
    ]
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert {r["RouteTableId"] for r in routes} <= {_only(x) for x in endpoint["RouteTableIds"]}

    # The probe's security group lets SMTP out.
    (group,) = {_only(g) for g in vpc_config[1]["SecurityGroupIds"]}
    egress = _of_type("SecurityGroup")[group]["Properties"]["SecurityGroupEgress"]
    assert any(e["IpProtocol"] == "tcp" and e["FromPort"] <= 25 <= e["ToPort"] for e in egress)

    # The stack tells the operator which address to ask AWS about.
    output = t["Outputs"]["SmtpEgressIp"]
    assert output["Condition"] == "UseVpc" and _only(output["Value"]) == eip
