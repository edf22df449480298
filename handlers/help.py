"""帮助: what the speaker may do here, or how one command is used."""
from __future__ import annotations

from gridbot.messages import Reply
from gridbot.router import Command, Context, Router
from gridbot.texts import t


def help_command(ctx: Context, args: str) -> list[Reply]:
    router = ctx.app.router
    if args:
        cmd = router.find(args.split()[0])
        if cmd is None:
            return [Reply(t("help.unknown_command", word=args.split()[0]))]
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
