"""``/bannercheck`` text -> a typed command (pure).

Domains are validated here, with the engine's own rules, so every bad input
gets its friendly one-line reason before anything is started.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bannercheck.domain import DomainError, to_domain


class Action(StrEnum):
    CHECK = "check"
    HELP = "help"
    WATCH = "watch"
    UNWATCH = "unwatch"
    WATCHES = "watches"
    HISTORY = "history"
    VERIFY = "verify"


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True)
class Command:
    action: Action
    domain: str | None = None  # ASCII (A-labels)
    domain_unicode: str | None = None
    frequency: Frequency | None = None


class CommandError(ValueError):
    """Bad command text; ``str(error)`` is the friendly explanation for the user."""


USAGE = "\n".join(
    [
        "*`/bannercheck example.com`* — check how a domain's mail servers present themselves",
        "*`/bannercheck watch example.com [daily|weekly]`* — check it on a schedule and post "
        "changes to this channel",
        "*`/bannercheck unwatch example.com`* — stop watching it",
        "*`/bannercheck watches`* — the domains watched from this channel",
        "*`/bannercheck history example.com`* — the last checks and what changed between them",
        "*`/bannercheck verify example.com`* — what to publish in DNS when this deployment "
        "only checks verified domains",
        "*`/bannercheck help`* — this message",
    ]
)

_SLACK_LINK = re.compile(r"^<([^|>]*)(?:\|([^>]*))?>$")
_SUBCOMMANDS = {a.value for a in Action if a is not Action.CHECK}


def _unwrap(token: str) -> str:
    """Slack turns ``example.com`` into ``<http://example.com|example.com>``: undo it."""
    match = _SLACK_LINK.match(token)
    if match is None:
        return token
    target, label = match.group(1), match.group(2)
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    return label or target


def _explain(token: str) -> str | None:
    """A specific hint for the common mistakes, before the generic validation."""
    lowered = token.lower()
    if "://" in lowered or "/" in lowered:
        return (
            f"`{token}` looks like a URL. Give just the domain, for example "
            "`/bannercheck example.com`."
        )
    if "@" in token:
        domain = token.rsplit("@", 1)[1]
        return (
            f"`{token}` looks like an e-mail address. Give the domain part only: "
            f"`/bannercheck {domain}`."
        )
    return None


def to_checked_domain(token: str) -> tuple[str, str]:
    """(ASCII, Unicode) of a user-given domain, or ``CommandError`` saying why not."""
    text = _unwrap(token.strip())
    hint = _explain(text)
    if hint is not None:
        raise CommandError(hint)
    try:
        domain = to_domain(text)
    except DomainError as error:
        raise CommandError(f"`{text}` is not a domain I can check: {error}") from error
    return domain.ascii, domain.unicode


def to_command(text: str) -> Command:
    """Parse the text after ``/bannercheck``.

    >>> to_command("watch example.com weekly")
    Command(action=<Action.WATCH: 'watch'>, domain='example.com', ...)
    """
    words = text.split()
    if not words or words[0].lower() in {"help", "-h", "--help", "?"}:
        return Command(Action.HELP)
    first = words[0].lower()
    if first not in _SUBCOMMANDS:
        if len(words) > 1:
            raise CommandError("Give one domain at a time, for example `/bannercheck example.com`.")
        ascii_name, unicode_name = to_checked_domain(words[0])
        return Command(Action.CHECK, ascii_name, unicode_name)
    action = Action(first)
    args = words[1:]
    if action is Action.WATCHES:
        if args:
            raise CommandError("`/bannercheck watches` takes no arguments.")
        return Command(action)
    if not args:
        raise CommandError(f"Which domain? For example `/bannercheck {first} example.com`.")
    frequency: Frequency | None = None
    if action is Action.WATCH:
        if len(args) > 2:
            raise CommandError("Usage: `/bannercheck watch example.com [daily|weekly]`.")
        if len(args) == 2:
            try:
                frequency = Frequency(args[1].lower())
            except ValueError:
                raise CommandError(
                    f"`{args[1]}` is not a schedule I know: use `daily` or `weekly`."
                ) from None
        else:
            frequency = Frequency.DAILY
    elif len(args) > 1:
        raise CommandError(f"Usage: `/bannercheck {first} example.com`.")
    ascii_name, unicode_name = to_checked_domain(args[0])
    return Command(action, ascii_name, unicode_name, frequency)
