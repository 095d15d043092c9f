"""Property-based tests of what users type: domains, /bannercheck text, policy lists."""

from __future__ import annotations

import string

from bannercheck.domain import DomainError, to_domain
from bannercheck.policy import PolicyConfig, PolicyMode, check_policy, policy_from_env
from bannercheck.slack.command import Action, CommandError, to_command
from bannercheck.store import Requester, Source
from hypothesis import given, settings
from hypothesis import strategies as st

LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
NAME = st.lists(LABEL, min_size=2, max_size=4).map(".".join)
ANY_TEXT = st.text(max_size=400)
API = Requester(source=Source.API, api_key_id="k")


@settings(max_examples=300)
@given(ANY_TEXT)
def test_command_text_parses_or_explains(text: str) -> None:
    try:
        command = to_command(text)
    except CommandError as error:
        message = str(error)
        assert message and "Traceback" not in message
        return
    if command.domain is not None:
        # What the parser accepts is a domain the engine accepts, unchanged.
        assert to_domain(command.domain).ascii == command.domain
        assert command.domain.isascii() and command.domain == command.domain.lower()


@settings(max_examples=200)
@given(st.sampled_from(["", "watch ", "history ", "unwatch "]), ANY_TEXT)
def test_subcommands_with_any_argument(prefix: str, text: str) -> None:
    try:
        to_command(prefix + text)
    except CommandError as error:
        assert str(error)


@settings(max_examples=300)
@given(ANY_TEXT)
def test_domain_parser_is_idempotent(text: str) -> None:
    try:
        domain = to_domain(text)
    except DomainError as error:
        assert "\n" not in str(error).strip()
        return
    assert to_domain(domain.ascii) == domain
    assert to_domain(domain.unicode).ascii == domain.ascii
    assert len(domain.ascii) <= 253


@given(NAME, st.lists(LABEL, max_size=3))
def test_opt_out_covers_every_name_below(owner: str, sub: list[str]) -> None:
    name = ".".join([*sub, owner])
    for mode in PolicyMode:
        config = PolicyConfig(mode=mode, allowlist=(name,), opt_out=(owner,), verify_secret="s")
        assert not check_policy(name, API, config).allowed


@given(NAME, NAME)
def test_allowlist_never_leaks_to_a_lookalike(listed: str, other: str) -> None:
    config = PolicyConfig(mode=PolicyMode.ALLOWLIST, allowlist=("." + listed,))
    allowed = check_policy(other, API, config).allowed
    assert allowed == (other == listed or other.endswith("." + listed))


@given(st.text(max_size=200))
def test_policy_env_parses_or_says_which_setting(text: str) -> None:
    from bannercheck.policy import PolicyConfigError

    for name in ("BANNERCHECK_POLICY", "BANNERCHECK_ALLOWLISTS", "BANNERCHECK_OPT_OUT"):
        try:
            policy_from_env({name: text})
        except PolicyConfigError as error:
            assert "BANNERCHECK_" in str(error)


def test_usage_is_shown_for_help() -> None:
    assert to_command("help").action is Action.HELP
