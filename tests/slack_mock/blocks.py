"""Slack's Block Kit limits, checked with slack_sdk's own models."""

from __future__ import annotations

from typing import Any

from bannercheck.render.slack import MAX_BLOCKS
from slack_sdk.models.blocks import Block


def assert_valid_message(message: dict[str, Any]) -> None:
    """What Slack would reject with invalid_blocks, checked with slack_sdk's models."""
    assert isinstance(message["text"], str) and message["text"].strip()
    blocks = message["blocks"]
    assert 0 < len(blocks) <= MAX_BLOCKS
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()  # raises SlackObjectFormationError past a limit
        if raw["type"] == "section":
            assert len(raw["text"]["text"]) <= 3000
            assert len(raw.get("fields", [])) <= 10
        if raw["type"] == "header":
            assert len(raw["text"]["text"]) <= 150
        if raw["type"] == "context":
            assert len(raw["elements"]) <= 10
        if raw["type"] == "actions":
            assert len(raw["elements"]) <= 25
            for element in raw["elements"]:
                assert len(element["value"]) <= 2000
                assert len(element["action_id"]) <= 255
