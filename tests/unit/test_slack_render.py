"""Block Kit messages: golden files, Slack's limits, escaping of remote text.

Regenerate the golden files with ``UPDATE_GOLDEN=1`` after an intended change
and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from bannercheck.diff import to_changes
from bannercheck.render.slack import (
    MAX_BLOCKS,
    to_alert_message,
    to_escaped,
    to_failure_message,
    to_history_message,
    to_message,
    to_truncated,
)

from tests.slack_mock import reports
from tests.slack_mock.blocks import assert_valid_message

GOLDEN_DIR = Path(__file__).parent / "golden" / "slack"


@pytest.mark.parametrize("name", sorted(reports.GOLDEN))
def test_message_matches_golden_file(name: str) -> None:
    message = to_message(reports.GOLDEN[name]())
    assert_valid_message(message)
    path = GOLDEN_DIR / f"{name}.json"
    rendered = json.dumps(message, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1"
    assert rendered == path.read_text(encoding="utf-8")


def test_failures_come_first_with_their_remediation() -> None:
    blocks = to_message(reports.failures())["blocks"]
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    severities = [m.group(1) for t in texts if (m := re.match(r"^:\w+: \*([A-Z]+)\* `", t))]
    assert severities[:2] == ["FAIL", "FAIL"]
    assert "WARN" in severities[2:]
    # The catalog's remediation, one line under the message.
    [starttls] = [t for t in texts if "`STARTTLS_MISSING`" in t]
    message, remediation = starttls.splitlines()[1:3]
    assert message == "mx2.broken.example (192.0.2.32) does not offer STARTTLS"
    assert remediation.startswith("_What to do:_ Enable STARTTLS with a valid certificate for")


def test_header_has_domain_verdict_and_grade() -> None:
    header = to_message(reports.failures())["blocks"][0]
    assert header["type"] == "header"
    assert "broken.example" in header["text"]["text"]
    assert "fail" in header["text"]["text"] and "grade F" in header["text"]["text"]


def test_each_mx_host_shows_preference_greeting_and_tls_facts() -> None:
    text = json.dumps(to_message(reports.failures())["blocks"])
    for name, pref in (("mx1", 10), ("mx2", 20), ("mx3", 30)):
        assert f"*{name}.broken.example*  _MX {pref}_" in text
    assert "STARTTLS :lock: TLSv1.3" in text
    assert ":x: no STARTTLS" in text
    assert ":warning: not forward-confirmed" in text
    assert "certificate expires 2026-12-10 (6 days)" in text


def test_hostile_banner_cannot_mention_channel_or_break_code_span() -> None:
    message = to_message(reports.failures())
    text = json.dumps(message)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
    greeting = next(
        line
        for b in message["blocks"]
        if b["type"] == "section"
        for line in b["text"]["text"].splitlines()
        if "Greeting" in line and "mail.internal" in line
    )
    assert greeting.count("`") == 2  # the server's backticks cannot close the span


def test_oversized_report_collapses_into_a_pointer() -> None:
    report = reports.oversized()
    message = to_message(report)
    assert_valid_message(message)
    assert len(message["blocks"]) == MAX_BLOCKS
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert "…and 10 more MX hosts" in text
    assert "more findings" in text and "/bannercheck history big.example" in text
    assert message["blocks"][-1]["type"] == "actions"


@pytest.mark.parametrize("hosts", [0, 1, 9, 10, 11, 30])
@pytest.mark.parametrize("count", [0, 1, 35, 36, 37, 200])
def test_any_size_stays_inside_the_limits(hosts: int, count: int) -> None:
    big = reports.oversized()
    all_hosts = big.dns.hosts * 2
    report = reports.report(
        "big.example",
        all_hosts[:hosts],
        (big.findings * 4)[:count],
        verdict=big.verdict,
        grade=big.grade,
    )
    assert_valid_message(to_message(report))


def test_ephemeral_result_has_share_button_shared_one_not() -> None:
    def action_ids(message: dict[str, Any]) -> list[str]:
        return [e["action_id"] for e in message["blocks"][-1]["elements"]]

    report = reports.clean()
    assert action_ids(to_message(report)) == [
        "bannercheck_rerun",
        "bannercheck_watch_daily",
        "bannercheck_share",
    ]
    assert "bannercheck_share" not in action_ids(to_message(report, shareable=False))


def test_fallback_text_names_verdict_and_failures() -> None:
    text = to_message(reports.failures())["text"]
    assert text.startswith("broken.example: fail (grade F)")
    assert "FAIL STARTTLS_MISSING: mx2.broken.example (192.0.2.32) does not offer STARTTLS" in text
    blocked = to_message(reports.blocked())["text"]
    assert "INCONCLUSIVE PROBE_EGRESS_BLOCKED: All 2 connection attempts" in blocked


def test_failure_message_carries_the_check_id() -> None:
    message = to_failure_message("example.com", "01JCRASH", "the check timed out")
    assert_valid_message(message)
    assert "01JCRASH" in json.dumps(message)
    assert "did not finish" in message["text"]


def test_alert_and_history_messages_are_valid() -> None:
    before = reports.clean()
    after = reports.report(
        "clean.example",
        reports.failures().dns.hosts,
        reports.failures().findings,
        verdict=reports.Verdict.FAIL,
        grade="D",
        check_id="01JEXAMPLE0000000000000009",
    )
    changes = to_changes(before, after)
    alert = to_alert_message(changes, after)
    assert_valid_message(alert)
    assert "New fail" in json.dumps(alert)
    history = to_history_message("clean.example", [after, before])
    assert_valid_message(history)
    assert "Resolved" in json.dumps(history) or "New" in json.dumps(history)
    assert_valid_message(to_history_message("clean.example", []))


# --- cutting escaped text ------------------------------------------------------
_BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def _mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    texts += [e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"]]
    return texts


@pytest.mark.parametrize("limit", range(20, 40))
def test_cut_never_splits_an_entity_or_leaves_a_code_span_open(limit: int) -> None:
    for raw in ("&" * 100, "a&b<c>`d` " * 20, "x`" + "&" * 60 + "`", "```" + "&<" * 40 + "```"):
        cut = to_truncated(to_escaped(raw), limit)
        assert len(cut) <= limit and cut.endswith(("…", "…`", "…```"))
        assert not _BROKEN_ENTITY.search(cut), cut
        assert cut.count("```") % 2 == 0 and cut.replace("```", "").count("`") % 2 == 0, cut


def test_host_with_ampersand_banners_is_cut_at_a_safe_boundary() -> None:
    # 20 addresses greeting with 200 '&' each: 1,000 escaped characters per line,
    # far over a section's 3,000; the cut lands inside a greeting's code span.
    ips = tuple(f"192.0.2.{i}" for i in range(1, 21))
    host = reports.mx("mx.amp.example", 10, ips, greeting="&" * 190 + "`x`")
    report = reports.report("amp.example", (host,), (), verdict=reports.Verdict.PASS, grade="A")

    message = to_message(report)

    assert_valid_message(message)
    [host_text] = [t for t in _mrkdwn_texts(message) if "mx.amp.example" in t]
    assert "…20 addresses in all" in host_text
    for text in _mrkdwn_texts(message):
        assert not _BROKEN_ENTITY.search(text), text
        assert text.count("`") % 2 == 0, text


def test_notes_full_of_backticks_and_ampersands_stay_well_formed() -> None:
    notes = tuple(
        reports.finding(
            "EHLO_EXTENSIONS", reports.Severity.INFO, f"{i} " + "`&` " * 30 + "<&>" * 10
        )
        for i in range(40)
    )
    report = reports.report("n.example", (), notes, verdict=reports.Verdict.PASS, grade="A")

    message = to_message(report)

    assert_valid_message(message)
    [notes_text] = [t for t in _mrkdwn_texts(message) if "*Notes*" in t]
    assert notes_text.endswith("…40 notes in all")
    assert not _BROKEN_ENTITY.search(notes_text)
    assert notes_text.count("`") % 2 == 0


def test_a_finding_names_its_host_once() -> None:
    def finding_text(finding: reports.Finding) -> str:
        report = reports.report(
            "x.example", (), (finding,), verdict=reports.Verdict.FAIL, grade="F"
        )
        return to_message(report)["blocks"][3]["text"]["text"]

    named = reports.finding(
        "STARTTLS_MISSING",
        reports.Severity.FAIL,
        "mx.x.example (192.0.2.1) does not offer STARTTLS",
        "mx.x.example",
        "192.0.2.1",
    )
    bare = reports.finding(
        "STARTTLS_MISSING", reports.Severity.FAIL, "gone", "mx.x.example", "192.0.2.1"
    )

    assert finding_text(named).count("mx.x.example") == 2  # the message and the remediation
    assert finding_text(bare).splitlines()[0].endswith("— mx.x.example (192.0.2.1)")
