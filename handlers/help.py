"""帮助: what the speaker may do here, or how one command is used."""
from __future__ import annotations

from gridbot.config import ConfigError
from gridbot.messages import Reply
from gridbot.router import Command, Context, NotACommand, Router
from gridbot.services import kf
from gridbot.texts import t

# Command names are at most four characters; a longer word, or one with a digit, after 帮助 is a sentence
# ("帮助：1栋2单元301老人摔倒了") that must reach the request rules, not a command we do not know.
_LONGEST_WORD = 6


# The member's list, in the order of a working day; commands of other groups follow under help.groups.other.
_GROUP_ORDER = ("tickets", "work", "coverage", "admin")


def _text(ctx: Context, cmd: Command, part: str) -> str:
    """A resident reads `<part>_resident` when the command has one (反馈 means something else to them)."""
    if not ctx.speaker.is_member:
        try:
            return cmd.text(f"{part}_resident")
        except ConfigError:
            pass
    return cmd.text(part)


def _member_list(ctx: Context) -> list[str]:
    by_group: dict[str, list[Command]] = {}
    for cmd in ctx.app.router.visible_commands(ctx.speaker):
        if cmd.name == "帮助":
            continue
        by_group.setdefault(cmd.group if cmd.group in _GROUP_ORDER else "other", []).append(cmd)
    lines = []
    for group in (*_GROUP_ORDER, "other"):
        if by_group.get(group):
            lines.append(t(f"help.groups.{group}"))
            lines += [t("help.line", name=c.name, summary=_text(ctx, c, "summary")) for c in by_group[group]]
    return lines


def help_command(ctx: Context, args: str) -> list[Reply]:
    router = ctx.app.router
    if args:
        word = args.split()[0]
        cmd = router.find(word)
        if cmd is None:
            if len(word) > _LONGEST_WORD or any(ch.isdigit() for ch in word) or len(args.split()) > 2:
                raise NotACommand()
            return [Reply(t("help.unknown_command", word=word))]
        lines = [t("help.one_title", name=cmd.name), _text(ctx, cmd, "summary"),
                 t("router.usage_line", usage=_text(ctx, cmd, "usage")),
                 t("router.example_line", example=_text(ctx, cmd, "example"))]
        if cmd.aliases:
            lines.append(t("help.aliases", aliases="、".join(cmd.aliases)))
        if not cmd.allowed(ctx.speaker):
            lines.append(t("help.not_for_you"))
        return [Reply("\n".join(lines))]
    speaker = ctx.speaker
    if not speaker.is_member:
        lines = [t("help.title_resident")]
        lines += [t("help.line", name=c.name, summary=_text(ctx, c, "summary"))
                  for c in router.visible_commands(speaker)]
        # 微信客服 is a private chat: no @ there, and 转人工 is on offer
        footer = "kf.help_footer" if ctx.inbound.platform == kf.PLATFORM else "help.footer_resident"
        lines += [t(footer), t("help.footer_rating")]
        return [Reply("\n".join(lines))]
    text = "\n".join([t("help.title_member", name=speaker.name), *_member_list(ctx), t("help.footer_member")])
    if ctx.inbound.is_group:  # forty lines of members' commands are not for the residents' group
        return [Reply(t("help.sent_privately")), Reply(text, to_user=ctx.inbound.sender_id)]
    return [Reply(text)]


def register(router: Router) -> None:
    router.command(Command("帮助", help_command, roles=None, aliases=("help", "菜单", "?")))
