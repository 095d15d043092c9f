"""Slack's Block Kit limits, checked with slack_sdk's own models."""

from __future__ import annotations

from typing import Any

from bannercheck.render.slack import MAX_BLOCKS
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block


def _block_errors(raw: Any) -> list[str]:
    if not isinstance(raw, dict):
        return [f"not a block: {raw!r:.80}"]
    try:
        block = Block.parse(raw)
        if block is None:
            return [f"unknown block: {raw!r:.80}"]
        block.validate_json()  # raises SlackObjectFormationError past a limit
    except (SlackObjectFormationError, KeyError, TypeError, ValueError) as error:
        return [f"{raw.get('type')}: {error}"]
    errors: list[str] = []
    kind = raw["type"]
    if kind == "section" and len(raw["text"]["text"]) > 3000:
        errors.append("section text over 3000 characters")
    if kind == "section" and len(raw.get("fields", [])) > 10:
        errors.append("section with more than 10 fields")
    if kind == "header" and len(raw["text"]["text"]) > 150:
        errors.append("header over 150 characters")
    if kind == "context" and len(raw["elements"]) > 10:
        errors.append("context with more than 10 elements")
    if kind == "actions":
        if len(raw["elements"]) > 25:
            errors.append("actions with more than 25 elements")
        for element in raw["elements"]:
            if len(element.get("value", "")) > 2000 or len(element["action_id"]) > 255:
                errors.append(f"button {element['action_id'][:40]!r} over its limits")
    return errors


def message_errors(message: Any) -> list[str]:
    """Why Slack would answer ``invalid_blocks`` (or drop the fallback); [] if it would not."""
    if not isinstance(message, dict):
        return ["the message is not a JSON object"]
    errors: list[str] = []
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        errors.append("no plain-text fallback in 'text'")
    blocks = message.get("blocks")
    if not isinstance(blocks, list) or not 0 < len(blocks) <= MAX_BLOCKS:
        count = len(blocks) if isinstance(blocks, list) else blocks
        return [*errors, f"blocks: {count!r:.40} (1 to {MAX_BLOCKS} expected)"]
    for raw in blocks:
        errors += _block_errors(raw)
    return errors


def assert_valid_message(message: dict[str, Any]) -> None:
    """What Slack would reject with invalid_blocks, checked with slack_sdk's models."""
    errors = message_errors(message)
    assert not errors, errors
