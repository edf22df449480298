"""Ordered rules, first match wins. Matching (check) is kept apart from running (run), as in python-telegram-bot.

A Rule's `check` looks at the Context and returns a match object or None; `run` gets the match and
returns replies. Commands are one kind of rule: a table of Command entries, matched by name or alias,
with the role check done here so that no handler can forget it.
"""
from __future__ import annotations

import importlib
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from .clock import Clock
from .config import Settings
from .errors import Refusal
from .messages import Inbound, Reply
from .queue import JobQueue
from .services.audit import record
from .services.people import Speaker
from .texts import t

log = logging.getLogger(__name__)

EVERYONE = None  # a command anyone may use, residents included
STAFF = frozenset({"part_time", "member", "building_leader", "group_leader", "grid_leader", "secretary",
                   "chief", "operator"})
LEADERS = frozenset({"grid_leader", "secretary", "chief"})


class AppParts(Protocol):
    """The app as a handler sees it through ctx.app (gridbot.app.Gridbot is one). A protocol, so that the router
    does not import the application that holds it."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def queue(self) -> JobQueue: ...
    @property
    def router(self) -> Router: ...
    @property
    def session(self) -> sessionmaker[Session]: ...
    @property
    def redis(self) -> Redis | None: ...


@dataclass
class Context:
    """What a handler may know: the message, who said it, the unit of work, and the app's parts."""

    inbound: Inbound
    speaker: Speaker
    session: Session
    app: AppParts
    # The large model's answers already fetched for this message, by inbound id (None: asked, no usable answer),
    # when process() runs it: a rule that wants one not at hand raises llm.AskFirst and process() asks outside its
    # transaction and row lock. None (not in process()): the rule asks inline.
    llm_answers: dict[int, Any] | None = None

    @property
    def now(self) -> datetime:
        return self.app.clock.now()

    @property
    def text(self) -> str:
        return normalize(self.inbound.text)


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC), trimmed, inner whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "")
    return re.sub(r"\s+", " ", text).strip()


# Chinese punctuation that people write in free text (a log, a notice, a reason) and expect to read back as
# written: NFKC would turn "，" into ","; every argument parser accepts both forms.
_KEEP_AS_WRITTEN = frozenset("，；：！？（）")


def soften(text: str) -> str:
    """normalize(), except that the Chinese punctuation of free text is kept (for command arguments)."""
    text = "".join(ch if ch in _KEEP_AS_WRITTEN else unicodedata.normalize("NFKC", ch) for ch in text or "")
    return re.sub(r"\s+", " ", text).strip()


Handler = Callable[[Context, str], Sequence[Reply]]


@dataclass
class Command:
    """A chat command. `roles` None = everyone; otherwise the speaker needs one of them.

    Texts for help live in templates.yaml under commands.<name>: summary, usage, example.
    `glued` lets arguments follow the name without a space ("走访3栋2单元101"); `glued_if`, when set, must
    accept the glued remainder, so that "登记一下，我家漏水了" is a sentence and not 登记 with arguments.
    """

    name: str
    handler: Handler
    roles: frozenset[str] | None = STAFF
    aliases: tuple[str, ...] = ()
    glued: bool = False
    group: str = "common"
    glued_if: Callable[[str], bool] | None = None

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def allowed(self, speaker: Speaker) -> bool:
        return self.roles is None or bool(self.roles & speaker.roles)

    def text(self, part: str) -> str:
        return t(f"commands.{self.name}.{part}")


class UsageError(Refusal):
    """Raised by a handler when the arguments are wrong; the router answers with the command's usage, after
    the template `key` (with `values`) that says what was wrong, when one is given."""

    def __init__(self, key: str | None = None, **values: Any):
        super().__init__(key or "router.usage_header", **values)
        self.detail = key is not None


class NotACommand(Exception):
    """Raised by a handler that finds the message is a sentence, not its command ("帮助：老人摔倒了"): the
    router goes on to the next rules as if no command had matched. Raise it before touching the session."""


@dataclass
class Rule:
    name: str
    check: Callable[[Context], Any]
    run: Callable[[Context, Any], Sequence[Reply]]


_SEPARATORS = " :：,，#"
# "值班？", "销假！", "待办。": a bare command with the sentence's end mark is still the bare command.
_END_MARKS = "。！？!?.～~…"


@dataclass
class CommandMatch:
    command: Command
    args: str
    glued: bool = False  # the arguments followed the name without a separator ("值班的网格员在吗")


class Router:
    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.rules: list[Rule] = []
        self._command_rule_added = False

    # -- registration ---------------------------------------------------------------------------
    def command(self, command: Command) -> Command:
        for existing in self.commands:
            clash = set(existing.words) & set(command.words)
            if clash:
                raise ValueError(f"command word(s) {clash} registered twice")
        self.commands.append(command)
        if not self._command_rule_added:
            self.rules.append(Rule("commands", self.match_command, self.run_command))
            self._command_rule_added = True
        return command

    def rule(self, name: str, check: Callable[[Context], Any], run: Callable[[Context, Any], Sequence[Reply]]) -> None:
        self.rules.append(Rule(name, check, run))

    def find(self, word: str) -> Command | None:
        word = normalize(word).lstrip("/")
        for cmd in self.commands:
            if word in cmd.words:
                return cmd
        return None

    # -- matching -------------------------------------------------------------------------------
    def match_command(self, ctx: Context) -> CommandMatch | None:
        if not ctx.inbound.is_text:
            return None
        match = self.parse_command(ctx.inbound.text)
        if match and match.args and not ctx.speaker.is_member and not match.command.allowed(ctx.speaker):
            # A resident's sentence that starts with a members' command word ("提醒一下物业，电梯困人了",
            # "值班的网格员在吗？") may be a request: let the next rules read it. If none takes it, the
            # fallback still explains the command (refusal()).
            return None
        return match

    def refusal(self, ctx: Context) -> list[Reply] | None:
        """For the fallback: "确认 12" from a resident that nothing else took is a members' command, refused
        as run_command would; a sentence that merely starts with a command word ("走访的人什么时候来") is not."""
        if not ctx.inbound.is_text:
            return None
        match = self.parse_command(ctx.inbound.text)
        if match is None or match.glued or match.command.allowed(ctx.speaker):
            return None
        return self._refuse(ctx, match.command)

    def _refuse(self, ctx: Context, cmd: Command) -> list[Reply]:
        record(ctx.session, ctx.speaker.actor, "command.refused", "command", cmd.name,
               {"chat_id": ctx.inbound.chat_id, "roles": sorted(ctx.speaker.roles)}, at=ctx.now)
        key = "router.refused_resident" if not ctx.speaker.is_member else "router.refused_role"
        return [Reply(t(key, command=cmd.name))]

    def parse_command(self, text: str) -> CommandMatch | None:
        text = soften(text).lstrip("/").strip()
        best: tuple[int, Command, str, bool] | None = None
        for cmd in self.commands:
            for word in cmd.words:
                if not text.startswith(word):
                    continue
                rest = text[len(word):]
                if not rest.strip(_END_MARKS + _SEPARATORS):
                    rest = ""
                glued = bool(rest) and rest[0] not in _SEPARATORS
                if glued and (not cmd.glued or (cmd.glued_if is not None and not cmd.glued_if(rest))):
                    continue
                if best is None or len(word) > best[0]:
                    best = (len(word), cmd, rest.lstrip(_SEPARATORS).strip(), glued)
        return CommandMatch(best[1], best[2], best[3]) if best else None

    # -- running --------------------------------------------------------------------------------
    def run_command(self, ctx: Context, match: CommandMatch) -> Sequence[Reply]:
        cmd = match.command
        if not cmd.allowed(ctx.speaker):
            return self._refuse(ctx, cmd)
        try:
            return list(cmd.handler(ctx, match.args))
        except UsageError as err:
            lines = [t("router.usage_error", detail=err.render(ctx.app.settings.tz)) if err.detail
                     else t("router.usage_header")]
            lines.append(t("router.usage_line", usage=cmd.text("usage")))
            lines.append(t("router.example_line", example=cmd.text("example")))
            return [Reply("\n".join(lines))]

    def dispatch(self, ctx: Context) -> list[Reply]:
        for rule in self.rules:
            match = rule.check(ctx)
            if match is not None and match is not False:
                log.debug("rule %s matched inbound %s", rule.name, ctx.inbound.inbound_id)
                try:
                    return list(rule.run(ctx, match))
                except NotACommand:
                    log.debug("rule %s declined inbound %s", rule.name, ctx.inbound.inbound_id)
                except Refusal as err:      # a rule said no: the person reads why
                    return [Reply(err.render(ctx.app.settings.tz))]
        return []

    def visible_commands(self, speaker: Speaker) -> Iterable[Command]:
        return (c for c in self.commands if c.allowed(speaker))


def build_router(modules: Iterable[str]) -> Router:
    router = Router()
    for name in modules:
        importlib.import_module(name).register(router)
    return router
