"""The Bolt app behind ``/bannercheck``: slash command and button clicks.

Every request is answered within Slack's three seconds: the slow work (the
check) is started with ``invoke`` (an asynchronous invoke of the probe
function), which stores the report and then posts it to the command's
``response_url``. Slack retries and double clicks are recognised with
``store.claim`` so one request starts at most one check.

This function never posts with the bot token: it only answers Slack's
request and its ``response_url``, so it needs the signing secret alone.

Example::

    app = make_app(signing_secret=secret, store=CheckStore("t"), invoke=invoke_probe)
    SlackRequestHandler(app).handle(event, context)
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, BoltRequest, Respond
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bannercheck.audit import Action as AuditAction
from bannercheck.audit import AuditTrail, remove_watch
from bannercheck.codec import to_dict
from bannercheck.policy import admit_request, verify_instructions
from bannercheck.probe_job import AdmissionError
from bannercheck.ratelimit import to_age_s
from bannercheck.render.slack import (
    ACTION_RERUN,
    ACTION_SHARE,
    ACTION_WATCH_DAILY,
    Message,
    to_history_message,
    to_message,
)
from bannercheck.settings import Settings, settings_from_env
from bannercheck.slack import messages
from bannercheck.slack.command import Action, Command, CommandError, to_checked_domain, to_command
from bannercheck.slack.secrets import DEFAULT_API_URL
from bannercheck.store import Interval, Requester, Source, Watch

if TYPE_CHECKING:
    from bannercheck.store import CheckStore

log = logging.getLogger(__name__)

COMMAND = "/bannercheck"
RETRY_HEADER = "x-slack-retry-num"
# A Slack retry or a double click of the same request within these windows
# is answered without starting anything again.
COMMAND_CLAIM_TTL_S = 3600
# A command without a trigger_id is recognised by who typed what where, which is
# also what a deliberate re-run looks like: held only over Slack's immediate
# retries, and a repeat within it is answered, never met with silence.
FALLBACK_CLAIM_TTL_S = 60
ACTION_CLAIM_TTL_S = 60
HISTORY_LIMIT = 10
# The verified policy looks up one TXT record before the acknowledgement: it
# must fit in Slack's three seconds with everything else.
ACK_DNS_TRY_S = 0.8
ACK_DNS_LIFETIME_S = 1.5

Invoke = Callable[[dict[str, Any]], None]


def _requester(payload: Mapping[str, Any]) -> Requester:
    """Who asked, from a slash command or a block_actions payload (ids only)."""
    team = payload.get("team_id") or (payload.get("team") or {}).get("id")
    user = payload.get("user_id") or (payload.get("user") or {}).get("id")
    channel = payload.get("channel_id") or (payload.get("channel") or {}).get("id")
    return Requester(
        source=Source.SLACK,
        slack_team_id=team,
        slack_user_id=user,
        slack_channel_id=channel,
    )


def _alert_channel(requester: Requester) -> str | None:
    """Where change alerts go: the channel, or the user's app DM for a direct message.

    The bot cannot post into a conversation between two people, but it can
    always write to a user in its own Messages tab.
    """
    channel = requester.slack_channel_id or ""
    if channel.startswith("D"):
        return requester.slack_user_id
    return channel or None


def _ack_settings() -> Settings:
    """The deployment's settings with DNS budgets that fit inside an acknowledgement."""
    settings = settings_from_env()
    return settings.with_(
        dns_try_timeout_s=min(settings.dns_try_timeout_s, ACK_DNS_TRY_S),
        dns_lifetime_s=min(settings.dns_lifetime_s, ACK_DNS_LIFETIME_S),
    )


def _action_key(body: Mapping[str, Any], action: Mapping[str, Any]) -> str:
    """Same user, same button, same message: the same request (retry or double click)."""
    container = body.get("container") or {}
    parts = [
        (body.get("team") or {}).get("id", ""),
        (body.get("user") or {}).get("id", ""),
        action.get("action_id", ""),
        action.get("value", ""),
        container.get("message_ts", "") or body.get("response_url", ""),
    ]
    return "slack:action:" + hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


@dataclasses.dataclass
class Handlers:
    """What each command and button does, independent of Bolt's plumbing."""

    store: CheckStore
    invoke: Invoke

    # --- checks --------------------------------------------------------
    def start_check(
        self,
        domain: str,
        domain_unicode: str,
        requester: Requester,
        response_url: str,
        claim_key: str,
        claim_ttl_s: int,
    ) -> Message | None:
        """Start one check; None when this request already started it.

        Every check passes the deployment's admission point first (policy,
        opt-outs, rate limits, audit trail), as the API's do.
        """
        if not self.store.claim(claim_key, claim_ttl_s):
            log.info("duplicate slack request ignored", extra={"claim": claim_key})
            return None
        try:
            admission = admit_request(domain, requester, store=self.store, settings=_ack_settings())
        except AdmissionError as error:
            return messages.to_refused(domain_unicode, str(error))
        if admission.cached is not None:
            return messages.to_cached(admission.cached)
        check_id = admission.check_id
        payload = {
            "domain": domain,
            "check_id": check_id,
            "requester": to_dict(requester),
            "reply_to": {"kind": "slack_response_url", "url": response_url},
        }
        try:
            self.invoke(payload)
        except Exception:
            # Whatever the invoke failed with, the user gets an answer with the id.
            log.exception("probe invoke failed", extra={"check_id": check_id})
            self.store.release(claim_key)
            return messages.to_not_started(domain_unicode, check_id)
        log.info("check started", extra={"check_id": check_id, "domain": domain})
        return messages.to_checking(domain_unicode, check_id)

    def command(self, payload: Mapping[str, Any], *, is_retry: bool = False) -> Message | None:
        """The acknowledgement of one slash command; None (empty) for a Slack retry."""
        try:
            command = to_command(str(payload.get("text", "")))
        except CommandError as error:
            return messages.to_bad_input(str(error))
        requester = _requester(payload)
        if command.action is Action.HELP:
            return messages.to_usage()
        if command.action is Action.CHECK:
            assert command.domain is not None and command.domain_unicode is not None
            trigger_id = payload.get("trigger_id")
            reply = self.start_check(
                command.domain,
                command.domain_unicode,
                requester,
                str(payload.get("response_url", "")),
                "slack:" + str(trigger_id or _payload_hash(payload)),
                COMMAND_CLAIM_TTL_S if trigger_id else FALLBACK_CLAIM_TTL_S,
            )
            if reply is None and not is_retry:
                # Slack answered the first copy; a person asking again gets an answer.
                return self.already_started(command.domain, command.domain_unicode)
            return reply
        if command.action is Action.WATCHES:
            channel = _alert_channel(requester) or ""
            watches = [
                w
                for w in self.store.watches()
                if w.slack_channel == channel and w.slack_team_id == requester.slack_team_id
            ]
            return messages.to_watch_list(watches, requester.slack_channel_id or channel)
        if command.action is Action.HISTORY:
            assert command.domain is not None
            page = self.store.history(command.domain, limit=HISTORY_LIMIT + 1)
            reports = [item.report for item in page.items]
            message = to_history_message(command.domain, reports, limit=HISTORY_LIMIT)
            return {"response_type": "ephemeral", **message}
        if command.action is Action.VERIFY:
            assert command.domain is not None
            decision = verify_instructions(command.domain, requester, store=self.store)
            return messages.to_verification(command.domain_unicode or command.domain, decision)
        if command.action is Action.WATCH:
            return self.watch(command, requester)
        return self.unwatch(command, requester)

    def already_started(self, domain: str, domain_unicode: str) -> Message:
        """The same command moments ago: its stored result, or that it is running."""
        latest = self.store.latest(domain)
        if latest is not None and to_age_s(latest.requested_at) <= FALLBACK_CLAIM_TTL_S:
            return messages.to_cached(latest)
        return messages.to_already_started(domain_unicode)

    # --- watches -------------------------------------------------------
    def watch(self, command: Command, requester: Requester) -> Message:
        assert command.domain is not None
        interval = Interval((command.frequency or "daily").lower())
        channel = _alert_channel(requester)
        existing = self.store.get_watch(command.domain)
        if existing is not None and existing.slack_channel != channel:
            return messages.to_watched_elsewhere(command.domain, existing.slack_channel)
        try:
            admit_request(
                command.domain,
                requester,
                store=self.store,
                settings=_ack_settings(),
                action=AuditAction.WATCH,
            )
        except AdmissionError as error:
            return messages.to_refused(command.domain_unicode or command.domain, str(error))
        if existing is not None:
            watch = dataclasses.replace(existing, interval=interval)
        else:
            watch = Watch(
                domain=command.domain,
                interval=interval,
                slack_channel=channel,
                slack_team_id=requester.slack_team_id,
                created_by=requester,
            )
        self.store.put_watch(watch)
        return messages.to_watching(
            command.domain_unicode or command.domain,
            interval.value,
            requester.slack_channel_id or "",
            requester.slack_user_id or "",
        )

    def unwatch(self, command: Command, requester: Requester) -> Message:
        assert command.domain is not None
        existing = self.store.get_watch(command.domain)
        if existing is not None and existing.slack_channel != _alert_channel(requester):
            AuditTrail(self.store).record(
                requester,
                command.domain,
                action=AuditAction.UNWATCH,
                allowed=False,
                decision="watched_elsewhere",
            )
            return messages.to_watched_elsewhere(command.domain, existing.slack_channel)
        # On the trail like the watch's creation, whether or not there was one.
        existed = remove_watch(self.store, command.domain, requester)
        return messages.to_unwatched(command.domain_unicode or command.domain, existed)

    # --- buttons -------------------------------------------------------
    def action(self, body: Mapping[str, Any], action: Mapping[str, Any]) -> Message | None:
        """The reply to a button click (posted to its response_url); None for none."""
        action_id = str(action.get("action_id", ""))
        value = str(action.get("value", ""))
        requester = _requester(body)
        key = _action_key(body, action)
        if action_id == ACTION_RERUN:
            try:
                domain, domain_unicode = to_checked_domain(value)
            except CommandError as error:
                return messages.to_bad_input(str(error))
            return self.start_check(
                domain,
                domain_unicode,
                requester,
                str(body.get("response_url", "")),
                key,
                ACTION_CLAIM_TTL_S,
            )
        if not self.store.claim(key, ACTION_CLAIM_TTL_S):
            return None
        if action_id == ACTION_WATCH_DAILY:
            try:
                domain, domain_unicode = to_checked_domain(value)
            except CommandError as error:
                return messages.to_bad_input(str(error))
            command = Command(Action.WATCH, domain, domain_unicode)
            return self.watch(command, requester)
        if action_id == ACTION_SHARE:
            return self.share(value, requester)
        return None

    def share(self, value: str, requester: Requester) -> Message:
        domain, _, check_id = value.partition(" ")
        stored = self.store.get_check(domain, check_id) if check_id else None
        if stored is None:
            return messages.to_ephemeral(
                "That check is no longer stored, so it cannot be shared. Run it again."
            )
        message = to_message(stored.report, shareable=False)
        blocks = list(message["blocks"])
        footer = blocks[-2]  # the context above the buttons
        shared = {"type": "mrkdwn", "text": f"shared by <@{requester.slack_user_id}>"}
        blocks[-2] = {**footer, "elements": [*footer["elements"], shared][:10]}
        return {
            "response_type": "in_channel",
            "replace_original": False,
            "text": message["text"],
            "blocks": blocks,
        }


def _payload_hash(payload: Mapping[str, Any]) -> str:
    parts = [str(payload.get(k, "")) for k in ("team_id", "user_id", "channel_id", "text")]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _no_tokens(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
    # This function never calls the Web API (only response_url), so it holds no
    # token and makes no auth.test call before the acknowledgement.
    return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id)


def make_app(
    *,
    signing_secret: str,
    store: CheckStore,
    invoke: Invoke,
    api_url: str = DEFAULT_API_URL,
) -> App:
    """The Bolt app: signature checks (401 for forged or stale requests) and handlers."""
    handlers = Handlers(store=store, invoke=invoke)
    app = App(
        signing_secret=signing_secret,
        client=WebClient(base_url=api_url),
        authorize=_no_tokens,
        process_before_response=True,
        # No bot user to ignore: this app never receives its own events.
        ignoring_self_events_enabled=False,
    )

    @app.command(COMMAND)
    def on_command(ack: Ack, command: dict[str, Any], request: BoltRequest) -> None:
        try:
            reply = handlers.command(command, is_retry=bool(request.headers.get(RETRY_HEADER)))
        except Exception:
            # The boundary: the user gets a sentence, not Slack's "dispatch_failed".
            log.exception("slash command failed")
            reply = messages.to_internal_error()
        if reply is None:
            ack()
        else:
            ack(**reply)

    def on_button(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        try:
            reply = handlers.action(body, action)
        except Exception:
            log.exception("button action failed")
            reply = messages.to_internal_error()
        if reply is not None:
            respond(**{"replace_original": False, **reply})

    for action_id in (ACTION_RERUN, ACTION_WATCH_DAILY, ACTION_SHARE):
        app.action(action_id)(on_button)
    return app
