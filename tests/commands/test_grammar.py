"""The `/byok` grammar: typed commands, quoting, references, values, nearest-usage errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands.admins import AdminsAdd, AdminsList, AdminsRemove
from bot.commands.agents import AgentCreate, AgentSet, AgentSettings
from bot.commands.audit import AuditView
from bot.commands.base import ChannelRef, Command, Since, UserRef
from bot.commands.bindings import AgentBind, AgentDefault, AgentUnbind
from bot.commands.digest import DigestAt, DigestChannel, DigestNow, DigestOff
from bot.commands.grammar import parse
from bot.commands.help import Help, help_text, overview
from bot.commands.keys import KeyAdd, KeyList, KeyRotate
from bot.commands.keystate import KeyRevoke, KeyTest
from bot.commands.limits import LimitClear, LimitList, LimitSet
from bot.commands.registry import specs
from bot.commands.reports import UsageExport, UsageReport
from bot.commands.roster import AgentDelete, AgentList, AgentShow
from bot.errors import ParseError

SECRET = "sk-proj-Gram0123456789abcdefghijklmnopqrstuvWXYZf3Qa"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("help", Help()),
        ("help agent bind", Help(topic=("agent", "bind"))),
        ("/byok help", Help()),
        ("key list", KeyList()),
        ("KEY LIST", KeyList()),
        ("keys list", KeyList()),
        (
            f"key add OpenAI prod {SECRET} --base-url https://proxy.example.com/v1 --no-verify",
            KeyAdd(
                provider="openai",
                name="prod",
                secret=SECRET,
                base_url="https://proxy.example.com/v1",
                verify=False,
            ),
        ),
        ("key add anthropic claude", KeyAdd(provider="anthropic", name="claude")),
        ("key add ollama local -", KeyAdd(provider="ollama", name="local", secret="-")),
        ("key rotate prod", KeyRotate(name="prod")),
        (f"key rotate prod {SECRET} --no-verify", KeyRotate("prod", SECRET, verify=False)),
        ("key revoke prod", KeyRevoke(name="prod")),
        ("key test prod", KeyTest(name="prod")),
        (
            'agent create writer --key prod --model claude-sonnet-4-5 --prompt "You are terse."'
            " --max-tokens 2048 --temperature 0.7 --show-cost",
            AgentCreate(
                name="writer",
                settings=AgentSettings(
                    key="prod",
                    model="claude-sonnet-4-5",
                    prompt="You are terse.",
                    max_tokens=2048,
                    temperature=0.7,
                    show_cost=True,
                ),
            ),
        ),
        (
            "agent set writer --prompt='Be kind, be brief.' --temperature=0 --no-show-cost",
            AgentSet(
                name="writer",
                settings=AgentSettings(
                    prompt="Be kind, be brief.", temperature=0.0, show_cost=False
                ),
            ),
        ),
        (
            "agent set writer --prompt “Smart quotes from Slack”",
            AgentSet(name="writer", settings=AgentSettings(prompt="Smart quotes from Slack")),
        ),
        (
            'agent set w --prompt "don\'t stop"',
            AgentSet("w", AgentSettings(prompt="don't stop")),
        ),
        ("agent set w --prompt --literal", AgentSet("w", AgentSettings(prompt="--literal"))),
        ("agent list", AgentList()),
        ("agent show writer", AgentShow(name="writer")),
        ("agent delete writer", AgentDelete(name="writer")),
        ("agent bind writer", AgentBind(name="writer")),
        (
            "agent bind writer <#C0123ABC|general> --all-messages",
            AgentBind("writer", ChannelRef("C0123ABC", "slack", "general"), all_messages=True),
        ),
        ("agent bind w <#C0123ABC>", AgentBind("w", ChannelRef("C0123ABC", "slack"))),
        (
            "agent bind w <#112233445566778899>",
            AgentBind("w", ChannelRef("112233445566778899", "discord")),
        ),
        ("agent bind w #random", AgentBind("w", ChannelRef("random", "plain"))),
        ("agent unbind w #random", AgentUnbind("w", ChannelRef("random", "plain"))),
        ("agent default writer", AgentDefault(name="writer")),
        ("limit set writer 5 --per day", LimitSet("writer", Decimal("5"), "day")),
        (
            "limit set workspace $12.50 --per=month",
            LimitSet("workspace", Decimal("12.50"), "month"),
        ),
        (
            "limit set Workspace 0.000001 --per DAY",
            LimitSet("workspace", Decimal("0.000001"), "day"),
        ),
        ("limit list", LimitList()),
        ("limit clear writer", LimitClear("writer")),
        ("limit clear workspace --per month", LimitClear("workspace", "month")),
        ("usage", UsageReport()),
        ("usage --since 7d --by model", UsageReport(Since(days=7), "model")),
        (
            "usage --by=user --since=2026-11-01",
            UsageReport(Since(day=dt.date(2026, 11, 1)), "user"),
        ),
        ("usage export", UsageExport()),
        ("usage export --since 30d", UsageExport(Since(days=30))),
        ("digest channel", DigestChannel()),
        (
            "digest channel <#C0123ABC|ops>",
            DigestChannel(ChannelRef("C0123ABC", "slack", "ops")),
        ),
        ("digest at 9:05", DigestAt("09:05")),
        ("digest at 18:30 europe/berlin", DigestAt("18:30", "Europe/Berlin")),
        ("digest now", DigestNow()),
        ("digest off", DigestOff()),
        ("admins add <@U0123ABC>", AdminsAdd(UserRef("U0123ABC", "slack"))),
        ("admins add <@U0123ABC|ada>", AdminsAdd(UserRef("U0123ABC", "slack", "ada"))),
        (
            "admins remove <@112233445566778899>",
            AdminsRemove(UserRef("112233445566778899", "discord")),
        ),
        (
            "admins remove <@!112233445566778899>",
            AdminsRemove(UserRef("112233445566778899", "discord")),
        ),
        ("admins add @ada", AdminsAdd(UserRef("ada", "plain"))),
        ("admin list", AdminsList()),
        ("audit", AuditView()),
        ("audit 5", AuditView(5)),
        ("key add --help", Help(topic=("key", "add"))),
    ],
)
def test_parses_to_typed_commands(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "error", "syntax_of"),
    [
        ("kee add openai x", "unknown command", "key add"),
        ("key ad openai x", "unknown key command", "key add"),
        ("agnt list", "unknown command", "agent list"),
        ("agent lst", "unknown agent command", "agent list"),
        ("limt st writer 5", "unknown command", "limit set"),
        ("usage exprt", "unknown usage command", "usage export"),
        ("key", "key needs a command", "key add"),
        ("frobnicate", "unknown command", "help"),
        ("key add openai", "missing arguments", "key add"),
        ("key list extra", "too many arguments", "key list"),
        ("key add openai prod s --bogus", "unknown option", "key add"),
        ("key add openai prod --base-url", "needs a value", "key add"),
        ("key add openai prod --no-verify=yes", "takes no value", "key add"),
        ("key add openai prod --no-verify --no-verify", "given twice", "key add"),
        ("key add openai Bad!Name", "key names use", "key add"),
        ("agent create w --key k", "needs --key and --model", "agent create"),
        ("agent create workspace --key k --model m", "reserved", "agent create"),
        ("agent create w --key k --model m --max-tokens 0", "--max-tokens", "agent create"),
        ("agent create w --key k --model m --max-tokens 1e3", "--max-tokens", "agent create"),
        ("agent create w --key k --model m --temperature 2.5", "--temperature", "agent create"),
        ("agent create w --key k --model m --temperature -1", "--temperature", "agent create"),
        ("agent create w --key k --model 'a b'", "--model", "agent create"),
        ("agent set w", "say what to change", "agent set"),
        ("agent set w --show-cost --no-show-cost", "not both", "agent set"),
        ("agent bind w general", "not a #channel", "agent bind"),
        ("limit set writer 5", "--per", "limit set"),
        ("limit set writer 5 --per week", "--per must be day or month", "limit set"),
        ("limit set writer -5 --per day", "dollars", "limit set"),
        ("limit set writer 0 --per day", "more than $0", "limit set"),
        ("limit set writer NaN --per day", "dollars", "limit set"),
        ("limit set writer 1e3 --per day", "dollars", "limit set"),
        ("usage --since 2w", "--since", "usage"),
        ("usage --since 2026-02-30", "--since", "usage"),
        ("usage --by team", "--by", "usage"),
        ("digest at 24:00", "HH:MM", "digest at"),
        ("digest at 9:5", "HH:MM", "digest at"),
        ("digest at 09:00 Mars/Olympus", "IANA", "digest at"),
        ("digest at 09:00 ../../etc/passwd", "IANA", "digest at"),
        ("admins add bob", "not an @user", "admins add"),
        ("audit 0", "N must be", "audit"),
        ("audit 201", "N must be", "audit"),
        ("agent create w --key k --model m --prompt 'unclosed", "unclosed quote", "agent create"),
        ("key add openai prod \x00", "control characters", "key add"),
    ],
)
def test_malformed_input_names_the_nearest_syntax(text: str, error: str, syntax_of: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text)
    message = str(caught.value)
    assert error in message and "\n" not in message
    spec = next(spec for spec in specs() if spec.name == syntax_of)
    assert caught.value.syntax == spec.syntax_line
    assert spec.syntax_line.startswith("usage: /byok ")  # the words people see stay


@pytest.mark.parametrize(
    "text",
    [
        f"key add {SECRET}",
        f"key add openai {SECRET}",
        f"key add openai prod {SECRET} extra",
        f"key add openai prod {SECRET} --{SECRET}",
        f"key rotate {SECRET}",
        f"{SECRET}",
        f"key {SECRET}",
        f"agent create w --key {SECRET} --model m",
        f"limit set {SECRET} 5 --per day",
        f"usage --since {SECRET}",
        f"admins add {SECRET}",
        f"key add openai prod '{SECRET}",
        f"agent bind w #{SECRET}",
    ],
)
def test_errors_never_quote_a_secret(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text)
    assert SECRET not in str(caught.value) + caught.value.syntax
    assert SECRET[8:24] not in str(caught.value)


def test_mistral_style_key_is_not_taken_for_a_name() -> None:
    with pytest.raises(ParseError, match="looks like a secret"):
        parse("key add mistral aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY")
    assert parse("key add xai xai-prod").name == "xai-prod"  # type: ignore[attr-defined]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_fails_with_one_line(text: str) -> None:
    try:
        command = parse(text)
    except ParseError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert isinstance(command, Command)


_WORDS = st.sampled_from(
    [
        "key", "add", "list", "rotate", "revoke", "test", "agent", "create", "set", "show",
        "delete", "bind", "unbind", "default", "limit", "clear", "usage", "export", "digest",
        "channel", "at", "now", "off", "admins", "remove", "audit", "help", "openai", "ollama",
        "writer", "workspace", "--key", "--model", "--prompt", "--per", "--since", "--by",
        "--base-url", "--no-verify", "--all-messages", "--show-cost", "--no-show-cost",
        "--max-tokens", "--temperature", "day", "month", "7d", "2026-11-01", "5", "-1", "0.5",
        "<#C0123ABC|x>", "<@U0123ABC>", "<#123>", "<@!123>", "#x", "@y", "09:00", "UTC", "'a b'",
        '"', "--", "=", "--per=day", SECRET,
    ]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(_WORDS, st.text(max_size=8)), max_size=8))
def test_command_like_word_salad_parses_or_fails_cleanly(words: list[str]) -> None:
    text = " ".join(words)
    try:
        command = parse(text)
    except ParseError as exc:
        assert "\n" not in str(exc) and SECRET not in str(exc)
        return
    assert isinstance(command, Command)
    assert SECRET not in command.target


def test_help_covers_every_command() -> None:
    text = overview()
    for spec in specs():
        assert spec.syntax in text and spec.summary in text
        described = help_text(spec.path)
        assert spec.syntax in described and spec.summary in described
    assert "key rotate" in help_text(("key",)) and "agent bind" in help_text(("agents",))
    with pytest.raises(ParseError) as caught:
        help_text(("agent", "bnd"))
    assert "agent bind" in caught.value.syntax
