"""``make run``: the whole application on this machine, no AWS account, no Docker.

    python -m bannercheck.local run [--port 3000] [--lab]
    python -m bannercheck.local tick [--port 3000]

``run`` starts dynalite (data kept in ``.local/dynalite``, so it survives a
restart), creates the table from template.yaml, and serves the API and the
Slack endpoint on 127.0.0.1. Probe invocations and SQS messages run in this
process. ``--lab`` also starts the test lab (Knot DNS, Postfix and scripted SMTP
peers on a random 127.x.y.0/24) and points the resolver at it, for a check
without internet access.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bannercheck import invoke
from bannercheck.local.server import LocalGateway

ROOT = Path(__file__).resolve().parents[4]
TABLE = "bannercheck"
REGION = "us-east-1"


def _api_key(data: Path) -> str:
    path = data / "api-key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(24)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def configure_env(dynamo_url: str, table: str, env: dict[str, str] | Any = os.environ) -> None:
    """The environment a deployed function has, pointed at local services."""
    env["TABLE_NAME"] = table
    env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamo_url
    env.setdefault("AWS_ACCESS_KEY_ID", "local")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    env.setdefault("AWS_DEFAULT_REGION", REGION)
    env.setdefault("AWS_REGION", REGION)
    env["BANNERCHECK_LOCAL"] = "1"
    env.setdefault("POWERTOOLS_SERVICE_NAME", "bannercheck")
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "bannercheck")
    env.setdefault("BANNERCHECK_TIMEOUT", "25")


def ensure_table(dynamo_url: str, table: str) -> None:
    import boto3

    from bannercheck.store import table_definition

    client = boto3.client(
        "dynamodb",
        endpoint_url=dynamo_url,
        region_name=os.environ.get("AWS_DEFAULT_REGION", REGION),
    )
    if table in client.list_tables()["TableNames"]:
        return
    client.create_table(TableName=table, **table_definition(str(ROOT / "template.yaml")))
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
    )


@contextlib.contextmanager
def dynalite(data: Path) -> Iterator[str]:
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.dynamodb import dynalite_server

    with dynalite_server(path=data / "dynalite") as server:
        yield server.url


@contextlib.contextmanager
def lab_env() -> Iterator[Any]:
    sys.path.insert(0, str(ROOT))
    from tests.lab.lab import Lab

    with Lab.start() as lab:
        os.environ["BANNERCHECK_RESOLVER"] = lab.resolver
        os.environ["BANNERCHECK_ALLOW_PRIVATE"] = "1"
        # The lab's loopback only: nonpublic.test's 10.0.0.1 or 169.254.169.254 stay
        # refused, as in the deployed service.
        os.environ["BANNERCHECK_PRIVATE_NETWORKS"] = "127.0.0.0/8,::1/128"
        os.environ["BANNERCHECK_EHLO_NAME"] = "probe.bannercheck.test"
        os.environ["BANNERCHECK_CA_FILE"] = lab.ca_file
        yield lab


def run(port: int, with_lab: bool, data: Path = ROOT / ".local") -> int:
    data.mkdir(parents=True, exist_ok=True)
    key = _api_key(data)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(dynalite(data))
        configure_env(url, TABLE)
        ensure_table(url, TABLE)
        lab = stack.enter_context(lab_env()) if with_lab else None
        # On the way out, probes still running finish before the lab and database stop.
        stack.callback(invoke.wait_local, 60.0)
        os.environ.setdefault("SLACK_API_URL", "http://127.0.0.1:9/api/")  # no Slack locally
        gateway = LocalGateway(("127.0.0.1", port), api_key=key)
        stack.callback(gateway.server_close)
        domain = "good.test" if lab else "example.com"
        print(_banner(gateway.url, key, url, domain, lab, data), flush=True)
        try:
            gateway.serve_forever()
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
    return 0


def _banner(base: str, key: str, dynamo_url: str, domain: str, lab: Any, data: Path) -> str:
    lines = [
        "bannercheck local stack",
        f"  API            {base}/checks   (header x-api-key: {key})",
        f"  Slack          {base}/slack/events",
        f"  scheduled run  make tick   (POST {base}/_local/tick)",
        f"  DynamoDB       {dynamo_url}   table {TABLE}, data kept in {data}",
    ]
    if lab is not None:
        lines.append(
            f"  lab resolver   {lab.resolver}   domains: good.test, noptr.test, nullmx.test, ..."
        )
    lines += [
        "",
        "Try:",
        f"  curl -s -X POST {base}/checks -H 'x-api-key: {key}' \\",
        f"       -H 'content-type: application/json' -d '{{\"domain\": \"{domain}\"}}'",
        f"  curl -s {base}/checks/{domain} -H 'x-api-key: {key}'",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def tick(port: int) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_local/tick", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            print(json.dumps(json.load(response)))
    except OSError as exc:
        print(f"tick: is `make run` running on port {port}? ({exc})", file=sys.stderr)
        return 1
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    # Once is enough: a second signal must not cut the clean-up short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bannercheck.local")
    parser.add_argument("command", choices=["run", "tick"], nargs="?", default="run")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000))
    parser.add_argument("--lab", action="store_true", default=os.environ.get("LAB") == "1")
    parser.add_argument("--data", type=Path, default=ROOT / ".local", help="kept across runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "tick":
        return tick(args.port)
    threading.current_thread().name = "local-stack"
    # Ctrl-C, `kill` and `timeout`: stop the lab and dynalite cleanly, once.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    return run(args.port, args.lab, args.data)


if __name__ == "__main__":
    sys.exit(main())
