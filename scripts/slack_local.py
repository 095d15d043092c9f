"""``make slack TEXT="example.com"``: what Slack would show, without a workspace.

Signs a ``/bannercheck`` slash command with the local stack's signing secret,
posts it to ``make run`` (``POST /slack/events``), prints the immediate reply,
then waits for the asynchronous message that the probe posts to the command's
``response_url`` — which points at a small HTTP server this script runs on a
free loopback port — and prints it too.

    python scripts/slack_local.py [--port 3000] [--json] [--timeout 60] TEXT...
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "bannercheck"))

from bannercheck.slack.secrets import local_signing_secret  # noqa: E402

from tests.slack_mock.events import command_body, sign  # noqa: E402
from tests.slack_mock.server import MockSlack  # noqa: E402

WIDTH = 100


def to_terminal(message: dict[str, Any]) -> str:
    """Block Kit as plain text: roughly what the Slack client draws."""
    out: list[str] = []
    for block in message.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            out += [title, "=" * min(len(title), WIDTH)]
        elif kind == "section":
            for line in block["text"]["text"].splitlines():
                out += textwrap.wrap(line, WIDTH, subsequent_indent="    ") or [""]
        elif kind == "context":
            out.append("  " + " · ".join(e.get("text", "") for e in block["elements"]))
        elif kind == "divider":
            out.append("-" * WIDTH)
        elif kind == "actions":
            out.append("  ".join(f"[ {e['text']['text']} ]" for e in block["elements"]))
        out.append("")
    if not out:
        out.append(message.get("text", "(empty reply)"))
    visibility = message.get("response_type", "ephemeral")
    note = "only visible to you" if visibility == "ephemeral" else "visible to the channel"
    return (
        "\n".join([f"({note})", *out])
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )


def post_command(port: int, text: str, response_url: str) -> tuple[int, str]:
    body = command_body(text, response_url=response_url, user_id="ULOCAL", channel_id="CLOCAL")
    timestamp = int(time.time())
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events",
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": sign(local_signing_secret(), timestamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="*", help="what follows /bannercheck")
    parser.add_argument("--port", type=int, default=3000, help="port of `make run`")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")
    parser.add_argument("--json", action="store_true", help="print the raw messages")
    args = parser.parse_args(argv)
    text = " ".join(args.text)

    def show(title: str, message: dict[str, Any]) -> None:
        print(f"--- {title} " + "-" * (WIDTH - len(title) - 5))
        print(
            json.dumps(message, indent=2, ensure_ascii=False) if args.json else to_terminal(message)
        )

    with MockSlack() as slack:
        print(f"/bannercheck {text}")
        try:
            status, body = post_command(args.port, text, slack.response_url("command"))
        except OSError as error:
            print(f"Is `make run` running on port {args.port}? ({error})", file=sys.stderr)
            return 1
        if status != 200:
            print(f"The Slack endpoint answered HTTP {status}: {body[:500]}", file=sys.stderr)
            return 1
        ack = json.loads(body) if body.strip() else {"text": "(empty acknowledgement)"}
        show("immediate reply (the acknowledgement)", ack)
        if "Checking" not in ack.get("text", ""):
            return 0  # help, watches, history, errors: everything is in the reply
        print(f"(waiting up to {args.timeout:.0f} s for the check to finish…)", flush=True)
        try:
            [posted] = slack.wait_for(
                1, path=slack.response_path("command"), timeout_s=args.timeout
            )
        except AssertionError:
            print("No message arrived at the response_url in time.", file=sys.stderr)
            return 1
        show("posted to the response_url (the findings message)", posted.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
