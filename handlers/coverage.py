"""一户一代表: 登记, 确认, 驳回, 绑定, 解绑, 迁出, 覆盖率, 未覆盖, 待确认.

Lists with addresses and names go to the member privately (never into the resident group): asked in a group,
the group only hears that the answer was sent privately.
"""
from __future__ import annotations

import re
from datetime import timedelta

from gridbot.handlers.numbers import parse_id
from gridbot.messages import Reply
from gridbot.models import ChatIdentity
from gridbot.router import STAFF, Command, Context, Router, UsageError
from gridbot.services import bindings, coverage
from gridbot.texts import t

LIST_LIMIT = 60
REASONS = {"none": "coverage.reason.none", "pending": "coverage.reason.pending", "away": "coverage.reason.away"}


def _private(ctx: Context, text: str, done: bool = False) -> list[Reply]:
    """Details to the speaker alone; in a group, the group only hears that they were sent privately
    (`done`: the answer to an action such as 确认 or 迁出, not a list)."""
    if ctx.inbound.is_group:
        key = "coverage.done_privately" if done else "coverage.sent_privately"
        return [Reply(t(key)), Reply(text, to_user=ctx.inbound.sender_id)]
    return [Reply(text)]


def _address(args: str) -> bindings.AddressParts:
    found = bindings.parse_address(args) if args else None
    if found is None:
        raise UsageError("coverage.errors.address_unreadable")
    return found


def _number(args: str, command: str) -> tuple[int, str]:
    m = re.match(r"^\s*#?([0-9]+)\s*(.*)$", args or "")
    number = parse_id(m.group(1)) if m else None
    if m is None or number is None:
        raise UsageError("coverage.errors.number_missing", command=command)
    return number, m.group(2).strip()


# "登记3栋2单元101", "登记三栋二单元一零一", "登记3-2-101": a glued 登记 must start with a building.
_STARTS_WITH_BUILDING = re.compile(r"^[0-9一二两三四五六七八九十百零〇]+\s*(?:栋|号楼|幢|座|号|-|单元)")


def _starts_with_building(rest: str) -> bool:
    """Whether "登记…" is the command; "登记一下，我家水管漏了" and "登记的事怎么办" are sentences."""
    return bool(_STARTS_WITH_BUILDING.match(rest))


def _who(identity: ChatIdentity) -> str:
    return identity.display_name or identity.user_id


# -- residents ----------------------------------------------------------------------------------------
def register_cmd(ctx: Context, args: str) -> list[Reply]:
    address = _address(args)
    change = bindings.register(ctx.session, platform=ctx.inbound.platform, user_id=ctx.inbound.sender_id,
                               address=address, now=ctx.now, display_name=ctx.inbound.sender_name,
                               chat_grid_id=ctx.speaker.chat_grid_id)
    if change.already:
        return [Reply(t("coverage.register.already_pending", number=change.binding.id))]
    ok = t("coverage.register.ok", number=change.binding.id)
    note = t("coverage.register.notify", number=change.binding.id, person=_who(change.identity),
             address=change.address, grid=change.grid_code)
    if change.current is not None:  # one person represents one household: say so before it happens
        if ctx.inbound.is_group:  # the group hears no flat numbers
            ok += t("coverage.register.replaces_in_group")
        else:
            ok += t("coverage.register.replaces", current=change.current.address, address=change.address)
        note += t("coverage.register.notify_replaces", current=change.current.address)
    replies = [Reply(ok)]
    replies += [Reply(note, to_user=uid) for uid in change.notify]
    return replies


# -- members ------------------------------------------------------------------------------------------
def _decide(ctx: Context, args: str, approve: bool) -> list[Reply]:
    number, reason = _number(args, "确认" if approve else "驳回")
    change = bindings.decide(ctx.session, number, approve=approve, actor=ctx.speaker.actor,
                             scope_grid_ids=ctx.speaker.scope_grid_ids, now=ctx.now, reason=reason or None)
    who = _who(change.identity)
    if approve:
        text = t("coverage.confirm.ok", number=number, person=who, address=change.address)
        if change.ended:
            text += t("coverage.confirm.replaced", count=len(change.ended))
        tell = t("coverage.confirm.resident", address=change.address)
    else:
        text = t("coverage.reject.ok", number=number, person=who, address=change.address)
        tell = t("coverage.reject.resident", address=change.address, reason=reason or t("coverage.reject.no_reason"))
    return _private(ctx, text, done=True) + [Reply(tell, to_user=change.identity.user_id)]


def confirm_cmd(ctx: Context, args: str) -> list[Reply]:
    return _decide(ctx, args, approve=True)


def reject_cmd(ctx: Context, args: str) -> list[Reply]:
    return _decide(ctx, args, approve=False)


def _split_person(args: str) -> tuple[str, str]:
    """'@张三 3栋2单元101' or '3栋2单元101 @张三' -> (person, address text)."""
    parts = (args or "").split()
    if len(parts) < 2:
        raise UsageError("coverage.errors.bind_args")
    at = next((p for p in parts if p.startswith("@")), parts[0])
    rest = " ".join(p for p in parts if p is not at)
    return at, rest


def bind_cmd(ctx: Context, args: str) -> list[Reply]:
    person, rest = _split_person(args)
    address = _address(rest)
    change = bindings.bind(ctx.session, person=person, address=address, actor=ctx.speaker.actor,
                           scope_grid_ids=ctx.speaker.scope_grid_ids, now=ctx.now,
                           chat_id=ctx.inbound.chat_id, chat_grid_id=ctx.speaker.chat_grid_id)
    who = _who(change.identity)
    if change.already:
        return _private(ctx, t("coverage.bind.already", person=who, address=change.address), done=True)
    text = t("coverage.bind.ok", person=who, address=change.address, number=change.binding.id)
    if change.ended:
        text += t("coverage.confirm.replaced", count=len(change.ended))
    return _private(ctx, text, done=True) + [Reply(t("coverage.bind.resident", address=change.address),
                                        to_user=change.identity.user_id)]


def unbind_cmd(ctx: Context, args: str) -> list[Reply]:
    if not args:
        changes = bindings.unbind_self(ctx.session, platform=ctx.inbound.platform, user_id=ctx.inbound.sender_id,
                                       now=ctx.now)
        if not changes:
            return [Reply(t("coverage.unbind.self_none"))]
        if all(c.was == "pending" for c in changes):  # a request withdrawn, not a representative stepping down
            return [Reply(t("coverage.unbind.self_withdrawn", numbers="、".join(str(c.binding.id) for c in changes)))]
        return [Reply(t("coverage.unbind.self_ok"))]
    if not ctx.speaker.is_member:
        return [Reply(t("coverage.errors.unbind_others"))]
    number = parse_id(args)
    changes = bindings.unbind(ctx.session, actor=ctx.speaker.actor, scope_grid_ids=ctx.speaker.scope_grid_ids,
                              now=ctx.now, binding_id=number, person=None if number else args,
                              chat_id=ctx.inbound.chat_id)
    lines = [t("coverage.unbind.ok_line", person=_who(c.identity), address=c.address, number=c.binding.id)
             for c in changes]
    tell = [Reply(t("coverage.unbind.resident", address=c.address), to_user=c.identity.user_id) for c in changes]
    return _private(ctx, "\n".join([t("coverage.unbind.ok_title")] + lines), done=True) + tell


def move_out_cmd(ctx: Context, args: str) -> list[Reply]:
    address = _address(args)
    household, ended = bindings.move_out(ctx.session, address=address, actor=ctx.speaker.actor,
                                         scope_grid_ids=ctx.speaker.scope_grid_ids, now=ctx.now,
                                         chat_grid_id=ctx.speaker.chat_grid_id)
    return _private(ctx, t("coverage.move_out.ok", address=household.address, count=len(ended)), done=True)


def _pct(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.1f}%"


def coverage_cmd(ctx: Context, args: str) -> list[Reply]:
    grid_ids = set(ctx.speaker.scope_grid_ids)
    report = coverage.compute(ctx.session, ctx.now, grid_ids)
    rows = [g for g in report.grids if g.households]
    if args:
        rows = [g for g in rows if g.code == args.strip()]
        if not rows:
            return [Reply(t("coverage.report.unknown_grid", code=args.strip()))]
    if not rows:
        return [Reply(t("coverage.report.nothing"))]
    lines = [t("coverage.report.title")]
    for g in rows:
        lines.append(t("coverage.report.grid_line", code=g.code, name=g.name, covered=g.covered,
                       households=g.households, pct=_pct(g.ratio), uncovered=len(g.uncovered),
                       key_count=sum(1 for u in g.uncovered if u.key)))
        extras = []
        if g.unbound:
            extras.append(t("coverage.report.unbound", count=len(g.unbound)))
        if g.pending_overdue:
            extras.append(t("coverage.report.overdue", count=len(g.pending_overdue)))
        if g.wrong_group:
            extras.append(t("coverage.report.wrong_group", count=len(g.wrong_group)))
        if extras:
            lines.append("  " + "；".join(extras))
    if len(rows) > 1:
        total = coverage.Totals(t("coverage.report.total_name"))
        for g in rows:
            total.add(g)
        lines.append(t("coverage.report.total_line", covered=total.covered, households=total.households,
                       pct=_pct(total.ratio)))
    today = ctx.now.astimezone(ctx.app.settings.tz).date()
    points = coverage.trend(ctx.session, [g.grid_id for g in rows], today - timedelta(days=7))
    if points and points[0].day < today:
        diff = sum(g.covered for g in rows) - points[0].covered
        lines.append(t("coverage.report.trend", days=(today - points[0].day).days, diff=f"{diff:+d}"))
    lines.append(t("coverage.report.footer"))
    return [Reply("\n".join(lines))]


def _building(args: str) -> str | None:
    if not args:
        return None
    m = re.match(r"^\s*(\d+)", args)
    if m:
        return m.group(1)
    found = bindings.parse_address(args)
    if found is None or not found.building:
        raise UsageError("coverage.errors.building_unreadable")
    return found.building


def uncovered_cmd(ctx: Context, args: str) -> list[Reply]:
    building = _building(args)
    report = coverage.compute(ctx.session, ctx.now, set(ctx.speaker.scope_grid_ids))
    if building is not None and not coverage.has_building(ctx.session, [g.grid_id for g in report.grids], building):
        return [Reply(t("coverage.uncovered.no_building", building=building))]
    invited = coverage.invitations(ctx.session, ctx.speaker.scope_grid_ids)
    tz = ctx.app.settings.tz
    lines: list[str] = []
    shown = 0
    unshown_building: str | None = None  # for the "还有 N 户…如“未覆盖 7栋”" hint: a building of theirs
    for g in report.grids:
        items = [u for u in g.uncovered if building is None or u.building == building]
        if not g.households or (building is not None and not items):
            continue
        lines.append(t("coverage.uncovered.grid_title", code=g.code, name=g.name, count=len(items),
                       key_count=sum(1 for u in items if u.key)))
        for u in items:
            if shown >= LIST_LIMIT:
                unshown_building = unshown_building or u.building
                break
            tags = "、".join(u.tags)
            when = invited.get(u.household_id)
            note = t("coverage.uncovered.invited", day=when.astimezone(tz).strftime("%m-%d")) if when else ""
            lines.append(t("coverage.uncovered.line", star="★" if u.key else "·", address=u.address,
                           tags=f"（{tags}）" if tags else "", reason=t(REASONS[u.reason]), invited=note))
            shown += 1
        if building is None and g.unbound:
            names = "、".join(p.name or p.user_id for p in g.unbound[:10])
            lines.append(t("coverage.uncovered.unbound", count=len(g.unbound), names=names))
        for w in g.wrong_group:
            lines.append(t("coverage.uncovered.wrong_group", address=w.address, grid=w.found_in))
    total = sum(len([u for u in g.uncovered if building is None or u.building == building]) for g in report.grids)
    if not lines or total == 0 and not any(g.unbound or g.wrong_group for g in report.grids):
        if building is not None:
            return [Reply(t("coverage.uncovered.none_building", building=building))]
        return [Reply(t("coverage.uncovered.none"))]
    if total > shown:
        lines.append(t("coverage.uncovered.more", count=total - shown, building=unshown_building or ""))
    return _private(ctx, "\n".join([t("coverage.uncovered.title")] + lines + [t("coverage.uncovered.footer")]))


def pending_cmd(ctx: Context, args: str) -> list[Reply]:
    rows = bindings.pending(ctx.session, ctx.speaker.scope_grid_ids, ctx.now)
    if not rows:  # nothing personal to hide: answer where asked
        return [Reply(t("coverage.pending.none"))]
    tz = ctx.app.settings.tz
    lines = [t("coverage.pending.title", count=len(rows))]
    for r in rows[:LIST_LIMIT]:
        lines.append(t("coverage.pending.line", number=r.number, grid=r.grid_code, address=r.address,
                       person=r.person, when=r.requested_at.astimezone(tz).strftime("%m-%d %H:%M"),
                       overdue=t("coverage.pending.overdue") if r.overdue else ""))
    lines.append(t("coverage.pending.footer"))
    return _private(ctx, "\n".join(lines))


def register(router: Router) -> None:
    router.command(Command("登记", register_cmd, roles=None, glued=True, group="coverage",
                           glued_if=_starts_with_building))
    router.command(Command("确认", confirm_cmd, roles=STAFF, group="coverage"))
    router.command(Command("驳回", reject_cmd, roles=STAFF, group="coverage"))
    router.command(Command("绑定", bind_cmd, roles=STAFF, group="coverage"))
    router.command(Command("解绑", unbind_cmd, roles=None, group="coverage"))
    router.command(Command("迁出", move_out_cmd, roles=STAFF, glued=True, group="coverage"))
    router.command(Command("覆盖率", coverage_cmd, roles=STAFF, group="coverage"))
    router.command(Command("未覆盖", uncovered_cmd, roles=STAFF, glued=True, group="coverage"))
    router.command(Command("待确认", pending_cmd, roles=STAFF, group="coverage"))
