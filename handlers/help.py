"""帮助: what the speaker may do here, or how one command is used."""
from __future__ import annotations

from gridbot.messages import Reply
from gridbot.router import Command, Context, NotACommand, Router
from gridbot.texts import t

# Command names are at most four characters; a longer word, or one with a digit, after 帮助 is a sentence
# ("帮助：1栋2单元301老人摔倒了") that must reach the request rules, not a command we do not know.
_LONGEST_WORD = 6


def help_command(ctx: Context, args: str) -> list[Reply]:
    router = ctx.app.router
    if args:
        word = args.split()[0]
        cmd = router.find(word)
        if cmd is None:
            if len(word) > _LONGEST_WORD or any(ch.isdigit() for ch in word) or len(args.split()) > 2:
                raise NotACommand()
            return [Reply(t("help.unknown_command", word=word))]
        lines = [t("help.one_title", name=cmd.name), cmd.text("summary"),
                 t("router.usage_line", usage=cmd.text("usage")),
                 t("router.example_line", example=cmd.text("example"))]
        if cmd.aliases:
            lines.append(t("help.aliases", aliases="、".join(cmd.aliases)))
        if not cmd.allowed(ctx.speaker):
            lines.append(t("help.not_for_you"))
        return [Reply("\n".join(lines))]
    speaker = ctx.speaker
    title = t("help.title_member", name=speaker.name) if speaker.is_member else t("help.title_resident")
    lines = [title]
    for cmd in router.visible_commands(speaker):
        lines.append(t("help.line", name=cmd.name, summary=cmd.text("summary")))
    lines.append(t("help.footer_member") if speaker.is_member else t("help.footer_resident"))
    return [Reply("\n".join(lines))]


def register(router: Router) -> None:
    router.command(Command("帮助", help_command, roles=None, aliases=("help", "菜单", "?")))
