"""Handing work to the probe function: Lambda invokes and SQS messages.

In AWS: ``invoke_probe`` is an ``Event`` (asynchronous) invoke of
``PROBE_FUNCTION_NAME``, ``run_probe`` a ``RequestResponse`` invoke, and
``send_probe_messages`` a batch send to ``PROBE_QUEUE_URL``. In the local stack
(``BANNERCHECK_LOCAL=1``) the probe handler runs in this process instead, in a
background thread for the asynchronous paths, so the same code paths run
without AWS.

Example::

    invoke_probe({"domain": "example.com", "check_id": "...", "requester": {...},
                  "reply_to": None})
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ProbeHandler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger(__name__)

_local_handler: ProbeHandler | None = None
_threads: list[threading.Thread] = []
_threads_lock = threading.Lock()


class ProbeInvokeError(Exception):
    """The probe function failed (not the check: the function itself)."""


@dataclass(frozen=True)
class LocalContext:
    """The parts of a Lambda context that Powertools reads."""

    function_name: str = "local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:local"
    aws_request_id: str = ""
    log_group_name: str = "local"
    log_stream_name: str = "local"

    @staticmethod
    def new(function_name: str) -> LocalContext:
        return LocalContext(
            function_name=function_name,
            invoked_function_arn=f"arn:aws:lambda:local:000000000000:function:{function_name}",
            aws_request_id=str(uuid.uuid4()),
        )

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def is_local() -> bool:
    return _local_handler is not None or os.environ.get("BANNERCHECK_LOCAL") == "1"


def use_local_probe(handler: ProbeHandler | None) -> None:
    """Run probe invocations in-process with ``handler`` (None: back to the default)."""
    global _local_handler
    _local_handler = handler


def invoke_probe(payload: Mapping[str, Any]) -> None:
    """Start a probe run and return at once (Lambda ``Event`` invoke)."""
    if is_local():
        _start_local({**payload})
        return
    _lambda().invoke(
        FunctionName=os.environ["PROBE_FUNCTION_NAME"],
        InvocationType="Event",
        Payload=json.dumps(payload).encode(),
    )


def run_probe(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Run one check through the probe function and return its result (the report dict)."""
    if is_local():
        return dict(_probe_handler()({**payload}, LocalContext.new("probe")))
    out = _lambda().invoke(
        FunctionName=os.environ["PROBE_FUNCTION_NAME"],
        InvocationType="RequestResponse",
        Payload=json.dumps(payload).encode(),
    )
    body = json.loads(out["Payload"].read() or b"null")
    if out.get("FunctionError") or not isinstance(body, dict):
        raise ProbeInvokeError(f"probe function failed: {str(body)[:300]}")
    return body


def send_probe_messages(payloads: Sequence[Mapping[str, Any]]) -> list[int]:
    """Queue one probe message per payload; returns the positions SQS accepted.

    A batch can fail in part (``Failed`` entries) or as a whole (an error after
    retries); either way the caller learns exactly which payloads were not queued,
    so it can leave them for another try instead of taking them as sent.
    """
    if not payloads:
        return []
    if is_local():
        _start_local(to_sqs_event(payloads))
        return list(range(len(payloads)))
    from botocore.exceptions import BotoCoreError, ClientError

    sqs = _sqs()
    url = os.environ["PROBE_QUEUE_URL"]
    sent: list[int] = []
    for start in range(0, len(payloads), 10):  # SQS batch limit
        batch = payloads[start : start + 10]
        try:
            out = sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "MessageBody": json.dumps(p)} for i, p in enumerate(batch)],
            )
        except (BotoCoreError, ClientError) as exc:
            log.error("probe messages %d-%d not queued: %s", start, start + len(batch) - 1, exc)
            continue
        for failed in out.get("Failed", []):
            log.error("probe message %s not queued: %s", failed.get("Id"), failed.get("Code"))
        sent.extend(start + int(entry["Id"]) for entry in out.get("Successful", []))
    return sorted(sent)


def to_sqs_event(payloads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS poller would deliver for these message bodies."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "local",
                "body": json.dumps(p),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:local:000000000000:probe",
                "awsRegion": "local",
            }
            for p in payloads
        ]
    }


def wait_local(timeout_s: float = 60.0) -> None:
    """Wait for in-process background probe runs (local stack and tests)."""
    with _threads_lock:
        pending = list(_threads)
        _threads.clear()
    for t in pending:
        t.join(timeout_s)


def _start_local(event: dict[str, Any]) -> None:
    handler = _probe_handler()

    def run() -> None:
        handler(event, LocalContext.new("probe"))

    t = threading.Thread(target=run, name="local-probe", daemon=True)
    with _threads_lock:
        _threads.append(t)
    t.start()


def _probe_handler() -> ProbeHandler:
    return _local_handler or load_function_handler("probe")


@cache
def load_function_handler(name: str) -> ProbeHandler:
    # Local stack only: functions/ is next to layers/ in the repository.
    root = Path(__file__).resolve().parents[3]
    path = root / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"bannercheck_fn_{name}", path)
    if spec is None or spec.loader is None:
        raise ProbeInvokeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: ProbeHandler = module.handler
    return handler


def _lambda() -> Any:
    return _client("lambda", _endpoint("LAMBDA"))


def _sqs() -> Any:
    return _client("sqs", _endpoint("SQS"))


def _endpoint(service: str) -> str:
    return os.environ.get(f"AWS_ENDPOINT_URL_{service}") or os.environ.get("AWS_ENDPOINT_URL") or ""


@cache
def _client(service: str, endpoint: str) -> Any:
    # One client per warm container; the endpoint is in the key so tests can switch.
    import boto3

    return boto3.client("lambda") if service == "lambda" else boto3.client("sqs")
