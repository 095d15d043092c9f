"""The short replies of ``/bannercheck`` (pure): acknowledgements, usage, errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from bannercheck.render.slack import (
    Message,
    context,
    header,
    section,
    to_escaped,
    to_message,
    to_timestamp,
)
from bannercheck.slack.command import USAGE

if TYPE_CHECKING:
    from bannercheck.policy import Decision
    from bannercheck.store import StoredCheck, Watch


def _where(channel_id: str) -> str:
    """A channel mention; direct messages have no useful one."""
    return (
        "this conversation" if not channel_id or channel_id.startswith("D") else f"<#{channel_id}>"
    )


def to_ephemeral(text: str, *extra: str) -> Message:
    """A one-section ephemeral reply; ``text`` is mrkdwn written by us, not user input."""
    blocks = [section(text)]
    if extra:
        blocks.append(context(*extra))
    return {"response_type": "ephemeral", "text": text, "blocks": blocks}


def to_checking(domain_unicode: str, check_id: str) -> Message:
    return to_ephemeral(
        f":hourglass_flowing_sand: Checking *{to_escaped(domain_unicode)}*…",
        f"Check `{check_id}` · results in this conversation, visible only to you",
    )


def to_usage() -> Message:
    return {
        "response_type": "ephemeral",
        "text": "How to use /bannercheck",
        "blocks": [
            header("/bannercheck — SMTP banner checker"),
            section(USAGE),
            context(
                "Checks connect to the domain's MX hosts on port 25 like a sending mail "
                "server (greeting, EHLO, STARTTLS) and never send mail."
            ),
        ],
    }


def to_bad_input(explanation: str) -> Message:
    """``explanation`` quotes the user's input: escaped, so it cannot format a mention."""
    return to_ephemeral(
        f":thinking_face: {to_escaped(explanation)}", "Try `/bannercheck help` for usage."
    )


def to_already_started(domain_unicode: str) -> Message:
    return to_ephemeral(
        f":hourglass_flowing_sand: You asked to check *{to_escaped(domain_unicode)}* moments "
        "ago: that check is running and its result will appear in this conversation.",
        "To start another check, run the command again in a minute.",
    )


def to_not_started(domain: str, check_id: str) -> Message:
    return to_ephemeral(
        f":boom: The check of *{to_escaped(domain)}* could not be started. "
        "Please try again in a minute.",
        f"Check `{check_id}`",
    )


def to_internal_error() -> Message:
    return to_ephemeral(
        ":boom: Something went wrong on our side; nothing was checked. Please try again."
    )


def to_watching(domain: str, interval: str, channel_id: str, user_id: str) -> Message:
    return {
        "response_type": "in_channel",
        "text": f"<@{user_id}> is watching {domain} ({interval}).",
        "blocks": [
            section(
                f":eyes: <@{user_id}> set a *{interval}* watch on *{to_escaped(domain)}*. "
                f"Changes (new failures or warnings, a changed banner, STARTTLS gone, "
                f"a certificate about to expire) will be posted in {_where(channel_id)}."
            ),
            context(
                "The app must be a member of this channel to post: `/invite @bannercheck`. "
                f"Stop with `/bannercheck unwatch {to_escaped(domain)}`."
            ),
        ],
    }


def to_watched_elsewhere(domain: str, channel_id: str | None) -> Message:
    if not channel_id:
        where = "another place (API or CLI)"
    elif channel_id.startswith(("U", "W")):  # a watch set in a direct message
        where = f"a direct message of <@{channel_id}>"
    else:
        where = f"<#{channel_id}>"
    return to_ephemeral(
        f"*{to_escaped(domain)}* is already watched from {where}. "
        f"Unwatch it there first to move the watch here."
    )


def to_unwatched(domain: str, existed: bool) -> Message:
    if not existed:
        return to_ephemeral(f"*{to_escaped(domain)}* was not being watched.")
    return {
        "response_type": "in_channel",
        "text": f"{domain} is no longer watched.",
        "blocks": [section(f":no_bell: *{to_escaped(domain)}* is no longer watched.")],
    }


def to_watch_list(watches: Iterable[Watch], channel_id: str) -> Message:
    lines = [
        f"• *{to_escaped(w.domain)}* — {w.interval.value}"
        + (f", last {w.last_verdict}" if w.last_verdict else ", not checked yet")
        + (f", next {w.next_due[:16].replace('T', ' ')} UTC" if w.next_due else "")
        for w in sorted(watches, key=lambda w: w.domain)
    ]
    if not lines:
        return to_ephemeral(
            f"No domain is watched from {_where(channel_id)}. "
            "Start with `/bannercheck watch example.com`."
        )
    shown = lines[:40]
    more = f"\n…and {len(lines) - 40} more" if len(lines) > 40 else ""
    return to_ephemeral(
        f"*Watched from {_where(channel_id)}* ({len(lines)}):\n" + "\n".join(shown) + more
    )


def to_refused(domain: str, explanation: str) -> Message:
    """Policy or rate limit said no: why, and how to get permission."""
    return to_ephemeral(
        f":no_entry: *{to_escaped(domain)}* was not checked. {to_escaped(explanation)}"
    )


def to_cached(stored: StoredCheck) -> Message:
    """A domain checked moments ago is answered from the store, not probed again."""
    message = to_message(stored.report)
    blocks = list(message["blocks"])
    footer = blocks[-2]  # the context above the buttons
    note = {
        "type": "mrkdwn",
        "text": f"result of the check at {to_timestamp(stored.report.checked_at)} "
        "(a domain is probed at most once a minute)",
    }
    blocks[-2] = {**footer, "elements": [*footer["elements"], note][:10]}
    return {"response_type": "ephemeral", "text": message["text"], "blocks": blocks}


def to_verification(domain: str, decision: Decision) -> Message:
    if decision.txt_name is None or decision.txt_value is None:
        return to_ephemeral(f"{to_escaped(decision.message)} {to_escaped(decision.how_to)}")
    record = f'{decision.txt_name}. 3600 IN TXT "{decision.txt_value}"'
    return to_ephemeral(
        f"To check *{to_escaped(domain)}* from this workspace, prove you control it: "
        f"publish this TXT record, then run `/bannercheck {to_escaped(domain)}` again.\n"
        f"```{to_escaped(record)}```",
        "The token belongs to this Slack workspace; other workspaces get their own.",
    )
