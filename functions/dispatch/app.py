"""Dispatch handler: EventBridge Scheduler tick -> one SQS probe message per due watch."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from bannercheck.dispatch import dispatch_due, to_schedule_name
from bannercheck.store import cached_store_from_env

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = dispatch_due(cached_store_from_env(), schedule_name=to_schedule_name(event))
    metrics.add_metric(name="WatchesQueued", unit=MetricUnit.Count, value=result.queued)
    logger.info("dispatched", extra={"due": result.due, "queued": result.queued})
    return {"due": result.due, "queued": result.queued, "skipped": result.skipped}
