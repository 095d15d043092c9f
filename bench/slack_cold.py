"""``python -m bench.slack_cold``: a cold start of the Slack function, in numbers.

Starts a moto server (the table, as the template defines it) and the mock Slack
of the tests on loopback, then runs a fresh interpreter that imports
``functions/slack/app.py`` and hands it two signed ``/bannercheck <domain>``
slash commands as API Gateway HTTP API (v2) events, the way Lambda would after a
cold start. Prints one JSON object:

    {"import_ms": ..., "first_ack_ms": ..., "second_ack_ms": ...}

``first_ack_ms`` pays for building the Bolt app, boto3's client and Powertools'
logger; ``second_ack_ms`` is a warm request. Both include the claim, the
admission point (rate limits, audit record) on DynamoDB and the probe's
(in-process, local) start, but not the check itself, which runs after the ack.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The repository (tests.*) and the layer's package, for this process and the child.
IMPORT_PATH = [str(REPO), str(REPO / "layers" / "bannercheck")]
DOMAINS = ("cold.bench.example", "warm.bench.example")

# The measured interpreter: nothing but the standard library is imported before
# the handler module, so import_ms is what Lambda's init phase pays for it.
CHILD = r"""
import json, sys, time
start = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("slack_fn", sys.argv[1])
fn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fn)
import_ms = (time.perf_counter() - start) * 1000

from bannercheck import invoke
from tests.slack_mock.events import command_body, to_event
from tests.slack_mock.stack import CONTEXT, SECRET

timings = []
for domain, url in zip(sys.argv[2::2], sys.argv[3::2]):
    event = to_event(command_body(domain, response_url=url), secret=SECRET)
    begin = time.perf_counter()
    response = fn.handler(event, CONTEXT)
    timings.append((time.perf_counter() - begin) * 1000)
    if response["statusCode"] != 200 or "Checking" not in response["body"]:
        sys.exit(f"unexpected acknowledgement: {response}")
invoke.wait_local(60)
print(json.dumps({"import_ms": round(import_ms, 1), "first_ack_ms": round(timings[0], 1),
                  "second_ack_ms": round(timings[1], 1)}))
"""


def main() -> int:
    sys.path[:0] = IMPORT_PATH
    from tests.fixtures.dynamodb import create_table, free_port, moto_server
    from tests.slack_mock.server import MockSlack
    from tests.slack_mock.stack import stack_variables

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request lines
    # A resolver address in a /24 of our own where nothing listens: checks end fast.
    resolver = f"127.{random.randint(16, 250)}.{random.randint(0, 255)}.53:{free_port()}"
    with moto_server() as dynamo, MockSlack() as slack:
        table = create_table(dynamo.client(), f"bc-bench-{uuid.uuid4().hex[:10]}")
        env = {
            **os.environ,
            **stack_variables(dynamo.url, table, slack.api_url, resolver=resolver, timeout_s=1.5),
            "PYTHONPATH": os.pathsep.join(IMPORT_PATH),
            "POWERTOOLS_LOG_LEVEL": "WARNING",  # logging is measured, printing it is not
        }
        args = [str(REPO / "functions" / "slack" / "app.py")]
        for name in DOMAINS:
            args += [name, slack.response_url(name.split(".")[0])]
        done = subprocess.run(
            [sys.executable, "-c", CHILD, *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return done.returncode or 1
    print(done.stdout.strip().splitlines()[-1])  # the child's JSON line
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
