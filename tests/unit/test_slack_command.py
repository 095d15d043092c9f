"""``/bannercheck`` text -> command, and the handler module's light import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from bannercheck.slack.command import Action, Command, CommandError, Frequency, to_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command(Action.HELP)),
        ("   ", Command(Action.HELP)),
        ("help", Command(Action.HELP)),
        ("HELP", Command(Action.HELP)),
        ("example.com", Command(Action.CHECK, "example.com", "example.com")),
        ("  Example.COM.  ", Command(Action.CHECK, "example.com", "example.com")),
        ("Bücher.example", Command(Action.CHECK, "xn--bcher-kva.example", "bücher.example")),
        # Slack turns domains into links when "escape channels, users and links" is on.
        ("<http://example.com|example.com>", Command(Action.CHECK, "example.com", "example.com")),
        ("<mailto:a@example.com|a@example.com>", None),
        (
            "watch example.com",
            Command(Action.WATCH, "example.com", "example.com", Frequency.DAILY),
        ),
        (
            "watch example.com WEEKLY",
            Command(Action.WATCH, "example.com", "example.com", Frequency.WEEKLY),
        ),
        ("unwatch example.com", Command(Action.UNWATCH, "example.com", "example.com")),
        ("watches", Command(Action.WATCHES)),
        ("history example.com", Command(Action.HISTORY, "example.com", "example.com")),
        ("verify example.com", Command(Action.VERIFY, "example.com", "example.com")),
    ],
)
def test_to_command(text: str, expected: Command | None) -> None:
    if expected is None:
        with pytest.raises(CommandError, match="e-mail address"):
            to_command(text)
    else:
        assert to_command(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("https://example.com/", "looks like a URL"),
        ("example.com/path", "looks like a URL"),
        ("user@example.com", "`/bannercheck example.com`"),
        ("example.com example.org", "one domain at a time"),
        ("localhost", "not a domain I can check"),
        ("203.0.113.9", "IP address"),
        ("watch", "Which domain?"),
        ("watch example.com monthly", "`daily` or `weekly`"),
        ("watch example.com daily extra", "Usage"),
        ("unwatch a.example b.example", "Usage"),
        ("watches example.com", "takes no arguments"),
    ],
)
def test_bad_input_explains_itself(text: str, reason: str) -> None:
    with pytest.raises(CommandError, match=None) as caught:
        to_command(text)
    assert reason in str(caught.value)


def test_handler_module_imports_nothing_heavy() -> None:
    # Bolt, boto3 and Powertools cost ~0.4 s; the handler imports them on first use only.
    path = str(ROOT / "functions" / "slack" / "app.py")
    code = (
        "import sys, time, importlib.util; start = time.perf_counter();"
        f"spec = importlib.util.spec_from_file_location('fn', {path!r});"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
        "ms = (time.perf_counter() - start) * 1000;"
        "names = ('slack_bolt', 'slack_sdk', 'boto3', 'botocore', 'aws_lambda_powertools');"
        "print(','.join(n for n in names if n in sys.modules)); print(ms)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, ms = out.stdout.splitlines()
    assert heavy == ""
    assert float(ms) < 300  # a cold start's budget before the first byte of the ack


def test_manifest_declares_the_command_buttons_and_minimum_scopes() -> None:
    import yaml  # comes with cfn-lint (dev extras)
    from bannercheck.slack.app import COMMAND

    manifest = yaml.safe_load((ROOT / "slack-app-manifest.yaml").read_text(encoding="utf-8"))
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == COMMAND
    assert command["url"].endswith("/slack/events")
    assert len(command["usage_hint"]) <= 100 and len(command["description"]) <= 100
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["interactivity"]["request_url"] == command["url"]
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == ["chat:write", "commands"]


def test_bad_input_is_echoed_escaped() -> None:
    from bannercheck.slack.messages import to_bad_input

    with pytest.raises(CommandError) as caught:
        to_command("mx<!here>.example")
    reply = to_bad_input(str(caught.value))
    assert "<!here>" not in reply["text"] and "&lt;!here&gt;" in reply["text"]
