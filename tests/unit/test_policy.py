"""Policy judgement (pure) and the TXT verification lookup against a real DNS server."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from bannercheck.model import DnsStatus
from bannercheck.policy import (
    PolicyConfig,
    PolicyConfigError,
    PolicyMode,
    Reason,
    authorize,
    check_policy,
    is_opted_out,
    matches,
    policy_from_env,
    to_scope,
    to_verification_instructions,
)
from bannercheck.settings import Settings
from bannercheck.store import OptOut, Requester, Source
from bannercheck.verification import (
    TOKEN_PREFIX,
    VerificationLookup,
    resolve_verification,
    to_record_name,
    to_token,
)

SECRET = "policy-test-secret-4711"
SLACK = Requester(source=Source.SLACK, slack_team_id="T111", slack_user_id="U1")
OTHER_TEAM = Requester(source=Source.SLACK, slack_team_id="T222", slack_user_id="U2")
API = Requester(source=Source.API, api_key_id="key-1")
SCHEDULE = Requester(source=Source.SCHEDULE, schedule_name="tick")


# --- open / allowlist / opt-out ----------------------------------------------------------
def test_open_allows_any_domain() -> None:
    d = check_policy("example.com", API, PolicyConfig())
    assert d.allowed and d.reason is Reason.OPEN


def test_opt_out_wins_in_every_mode_and_covers_subdomains() -> None:
    for mode in PolicyMode:
        config = PolicyConfig(
            mode=mode, allowlist=("example.com",), opt_out=("example.com",), verify_secret=SECRET
        )
        for name in ("example.com", "mx.example.com"):
            token = to_token(SECRET, "api:key-1")
            lookup = VerificationLookup(to_record_name(name), DnsStatus.OK, (token,))
            d = check_policy(name, API, config, lookup)
            assert not d.allowed and d.reason is Reason.OPTED_OUT, (mode, name)
            assert "asked not to be checked" in d.message and d.how_to
    assert not is_opted_out("notexample.com", PolicyConfig(opt_out=("example.com",)))
    # Even a scheduled watch created before the opt-out stops.
    assert not check_policy("example.com", SCHEDULE, PolicyConfig(opt_out=("example.com",))).allowed


def test_a_table_opt_out_wins_like_the_deployed_list() -> None:
    # The deciding functions look it up (store.find_opt_out) and pass what they found.
    table_entry = OptOut("example.com", "2026-12-04T00:00:00.000Z", API, "ticket 1234")
    deployed = check_policy("mx.example.com", API, PolicyConfig(opt_out=("example.com",)))
    for mode in PolicyMode:
        config = PolicyConfig(mode=mode, allowlist=("mx.example.com",), verify_secret=SECRET)
        token = to_token(SECRET, "api:key-1")
        lookup = VerificationLookup(to_record_name("mx.example.com"), DnsStatus.OK, (token,))
        assert check_policy("mx.example.com", API, config, lookup).allowed, mode
        for who in (API, SLACK, SCHEDULE):
            d = check_policy("mx.example.com", who, config, lookup, opt_out=table_entry)
            assert d == deployed, (mode, who)
    # The admin's note is for admins, not for whoever asked for the check.
    assert "ticket" not in deployed.message + deployed.how_to


@pytest.mark.parametrize(
    ("domain", "entry", "expected"),
    [
        ("example.com", "example.com", True),
        ("mx.example.com", "example.com", False),
        ("mx.example.com", ".example.com", True),
        ("example.com", ".example.com", True),
        ("badexample.com", ".example.com", False),
        ("EXAMPLE.com.", "example.com", True),
    ],
)
def test_allowlist_entries_match_names_or_suffixes(domain: str, entry: str, expected: bool) -> None:
    assert matches(domain, entry) is expected


def test_allowlist_is_per_workspace_and_per_key() -> None:
    config = PolicyConfig(
        mode=PolicyMode.ALLOWLIST,
        allowlist=("shared.test",),
        allowlists={"slack:T111": (".team.test",), "api:key-1": ("api.test",)},
    )
    assert check_policy("shared.test", OTHER_TEAM, config).allowed
    assert check_policy("mx.team.test", SLACK, config).reason is Reason.ALLOWLISTED
    refused = check_policy("mx.team.test", OTHER_TEAM, config)
    assert not refused.allowed and refused.reason is Reason.NOT_ALLOWLISTED
    assert "slack:T222" in refused.how_to and "mx.team.test" in refused.message
    assert check_policy("api.test", API, config).allowed
    assert not check_policy("api.test", SLACK, config).allowed


def test_schedule_is_allowed_because_the_watch_was() -> None:
    config = PolicyConfig(mode=PolicyMode.ALLOWLIST)
    assert check_policy("x.test", SCHEDULE, config).reason is Reason.SCHEDULED


# --- verified ------------------------------------------------------------------------------
def test_tokens_differ_per_scope_and_secret() -> None:
    a = to_token(SECRET, "slack:T111")
    assert a.startswith(TOKEN_PREFIX) and SECRET not in a
    assert a == to_token(SECRET, "slack:T111")
    assert a != to_token(SECRET, "slack:T222")
    assert a != to_token("another", "slack:T111")
    with pytest.raises(ValueError, match="secret"):
        to_token("", "slack:T111")


def test_verified_needs_this_scopes_token() -> None:
    config = PolicyConfig(mode=PolicyMode.VERIFIED, verify_secret=SECRET)
    name = to_record_name("example.com")
    mine = to_token(SECRET, "slack:T111")
    ok = VerificationLookup(name, DnsStatus.OK, ("v=spf1 -all", mine))
    assert check_policy("example.com", SLACK, config, ok).reason is Reason.VERIFIED
    theirs = check_policy("example.com", OTHER_TEAM, config, ok)
    assert not theirs.allowed and theirs.reason is Reason.NOT_VERIFIED
    assert theirs.txt_name == "_bannercheck.example.com"
    assert theirs.txt_value == to_token(SECRET, "slack:T222")
    assert theirs.txt_value in theirs.how_to
    missing = check_policy(
        "example.com", SLACK, config, VerificationLookup(name, DnsStatus.NXDOMAIN)
    )
    assert missing.reason is Reason.NOT_VERIFIED and missing.txt_value == mine
    flaky = check_policy("example.com", SLACK, config, VerificationLookup(name, DnsStatus.TIMEOUT))
    assert flaky.reason is Reason.VERIFICATION_UNAVAILABLE and "Try again" in flaky.how_to


def test_verified_mode_refuses_requesters_without_a_scope() -> None:
    config = PolicyConfig(mode=PolicyMode.VERIFIED, verify_secret=SECRET)
    cli = Requester(source=Source.CLI)
    assert to_scope(cli) is None
    d = check_policy("example.com", cli, config)
    assert not d.allowed and d.txt_value is None
    assert to_verification_instructions("example.com", cli, config).txt_value is None


def test_secret_is_not_in_the_config_repr() -> None:
    assert SECRET not in repr(PolicyConfig(verify_secret=SECRET))


# --- configuration -------------------------------------------------------------------------
def test_policy_from_env() -> None:
    config = policy_from_env(
        {
            "BANNERCHECK_POLICY": "Allowlist",
            "BANNERCHECK_ALLOWLIST": "a.test, .b.test;",
            "BANNERCHECK_ALLOWLISTS": '{"slack:T1": ["C.test."], "api:k": "d.test"}',
            "BANNERCHECK_OPT_OUT": "optout.test",
        }
    )
    assert config.mode is PolicyMode.ALLOWLIST
    assert config.allowlist == ("a.test", ".b.test")
    assert config.allowlists == {"slack:T1": ("c.test",), "api:k": ("d.test",)}
    assert config.opt_out == ("optout.test",)
    assert policy_from_env({}).mode is PolicyMode.OPEN


def test_unicode_entries_match_the_a_label_requests_arrive_in() -> None:
    """Requests carry A-labels (to_domain); an opt-out written in Unicode must still win."""
    config = policy_from_env(
        {
            "BANNERCHECK_POLICY": "allowlist",
            "BANNERCHECK_OPT_OUT": "Bücher.Example",
            "BANNERCHECK_ALLOWLIST": ".München.example",
            "BANNERCHECK_ALLOWLISTS": '{"api:key-1": ["Zürich.example."]}',
        }
    )
    refused = check_policy("xn--bcher-kva.example", API, config)
    assert (refused.allowed, refused.reason) == (False, Reason.OPTED_OUT)
    assert is_opted_out("mx.xn--bcher-kva.example", config)
    assert check_policy("mx.xn--mnchen-3ya.example", API, config).allowed
    assert check_policy("xn--zrich-kva.example", API, config).allowed
    assert not check_policy("xn--zrich-kva.example", SLACK, config).allowed


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BANNERCHECK_POLICY": "closed"}, "open, allowlist, verified"),
        ({"BANNERCHECK_POLICY": "verified"}, "BANNERCHECK_VERIFY_SECRET"),
        ({"BANNERCHECK_ALLOWLISTS": "{"}, "not JSON"),
        ({"BANNERCHECK_ALLOWLISTS": "[]"}, "must be"),
        ({"BANNERCHECK_ALLOWLISTS": '{"api:k": 3}'}, "must be a list"),
        ({"BANNERCHECK_OPT_OUT": "ok.test, *.example.com"}, "BANNERCHECK_OPT_OUT: '\\*.example"),
        ({"BANNERCHECK_ALLOWLISTS": '{"api:k": ["a..b"]}'}, r"BANNERCHECK_ALLOWLISTS\['api:k'\]"),
    ],
)
def test_bad_policy_config_says_which_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        policy_from_env(env)


# --- the TXT lookup against a real nameserver on loopback ------------------------------------
class TxtServer:
    """A tiny authoritative UDP nameserver: TXT answers from a dict; some names misbehave."""

    def __init__(
        self, records: dict[str, list[str | tuple[str, ...]]], servfail: set[str], drop: set[str]
    ) -> None:
        self.records = records
        self.servfail = servfail
        self.drop = drop
        self.ip = f"127.{random.randint(16, 250)}.{random.randint(0, 255)}.53"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ip, 0))
        self.port = self.sock.getsockname()[1]
        self.queries: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            qname = query.question[0].name.to_text(omit_final_dot=True).lower()
            self.queries.append(qname)
            if qname in self.drop:
                continue
            reply = dns.message.make_response(query)
            reply.flags |= dns.flags.AA
            if qname in self.servfail:
                reply.set_rcode(dns.rcode.SERVFAIL)
            elif qname in self.records and query.question[0].rdtype == dns.rdatatype.TXT:
                # Each entry is one record; a tuple is one record of several strings.
                texts = [
                    " ".join(f'"{p}"' for p in (t if isinstance(t, tuple) else (t,)))
                    for t in self.records[qname]
                ]
                reply.answer.append(dns.rrset.from_text(qname + ".", 60, "IN", "TXT", *texts))
            elif qname not in self.records:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(reply.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def txt_server() -> Iterator[TxtServer]:
    server = TxtServer(
        records={
            "_bannercheck.verified.test": ["unrelated", to_token(SECRET, "slack:T111")],
            "_bannercheck.long.test": [("x" * 255, "y" * 45)],
        },
        servfail={"_bannercheck.broken.test"},
        drop={"_bannercheck.silent.test"},
    )
    yield server
    server.close()


def _settings(server: TxtServer) -> Settings:
    return Settings(
        resolver=f"{server.ip}:{server.port}", dns_try_timeout_s=1.0, dns_lifetime_s=2.0
    )


def test_resolve_verification_outcomes(txt_server: TxtServer) -> None:
    settings = _settings(txt_server)
    ok = resolve_verification("verified.test", settings)
    assert ok.status is DnsStatus.OK and to_token(SECRET, "slack:T111") in ok.texts
    assert resolve_verification("long.test", settings).texts == ("x" * 255 + "y" * 45,)
    assert resolve_verification("absent.test", settings).status is DnsStatus.NXDOMAIN
    assert resolve_verification("broken.test", settings).status is DnsStatus.SERVFAIL
    assert resolve_verification("silent.test", settings).status is DnsStatus.TIMEOUT
    assert "_bannercheck.verified.test" in txt_server.queries


def test_authorize_looks_up_only_in_verified_mode(txt_server: TxtServer) -> None:
    settings = _settings(txt_server)
    verified = PolicyConfig(mode=PolicyMode.VERIFIED, verify_secret=SECRET)
    assert authorize("verified.test", SLACK, verified, settings).reason is Reason.VERIFIED
    assert authorize("verified.test", OTHER_TEAM, verified, settings).reason is Reason.NOT_VERIFIED
    assert (
        authorize("silent.test", SLACK, verified, settings).reason
        is Reason.VERIFICATION_UNAVAILABLE
    )
    before = len(txt_server.queries)
    assert authorize("whatever.test", SLACK, PolicyConfig(), settings).allowed
    opted = PolicyConfig(mode=PolicyMode.VERIFIED, verify_secret=SECRET, opt_out=("verified.test",))
    assert authorize("verified.test", SLACK, opted, settings).reason is Reason.OPTED_OUT
    assert len(txt_server.queries) == before
