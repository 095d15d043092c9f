"""Probe handler: runs checks (direct invoke or SQS batch), stores them, hands them off."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from bannercheck.probe_job import handle_event

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> Any:
    return handle_event(event, context)
