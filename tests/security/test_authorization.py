"""The authorization matrix for chat commands: every registered Command × resident / member / grid leader /
secretary. Allowed or refused exactly as Command.roles says; every refusal is answered in Chinese and audited
(command.refused, with the command's name); an allowed command is never answered with a refusal."""
from __future__ import annotations

from sqlalchemy import select

from gridbot.models import AuditLog
from gridbot.texts import t

PERSONAS = {"resident": ("resident_a", frozenset()), "member": ("mem_zhao", frozenset({"member"})),
            "leader": ("lead_li", frozenset({"grid_leader"})),
            "secretary": ("sec_wang", frozenset({"secretary", "grid_leader"}))}


def refusals(app, actor: str, command: str) -> int:
    with app.session() as s:
        return len(s.scalars(select(AuditLog).where(AuditLog.action == "command.refused", AuditLog.actor == actor,
                                                    AuditLog.entity_id == command)).all())


def test_every_command_for_every_role(bot):
    app = bot.app
    commands = list(app.router.commands)
    assert len(commands) >= 20
    checked, refused = 0, 0
    for cmd in commands:
        for persona, (user, roles) in PERSONAS.items():
            allowed = cmd.roles is None or bool(cmd.roles & roles)
            actor = f"{'resident' if persona == 'resident' else 'member'}:{user}"
            refusal = t("router.refused_resident" if persona == "resident" else "router.refused_role",
                        command=cmd.name)
            before = refusals(app, actor, cmd.name)
            replies = bot.say(cmd.name, as_=user, private=True)
            after = refusals(app, actor, cmd.name)
            if allowed:
                assert refusal not in replies and after == before, (cmd.name, persona, replies)
            else:
                assert refusal in replies and after == before + 1, (cmd.name, persona, replies)
                refused += 1
            checked += 1
    assert checked == 4 * len(commands) and refused > 0
