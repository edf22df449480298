"""公告: post to this grid's group, to listed grids, or to the whole community (leaders); now or at a set time.

The time must be marked so that a notice about tomorrow is not mistaken for a notice sent tomorrow:
"公告 定时 明天上午9点 内容" or "公告 明天上午9点发布 内容". Otherwise it goes now.
"""
from __future__ import annotations

import re
from datetime import datetime

from gridbot.messages import Reply
from gridbot.router import LEADERS, STAFF, Command, Context, Router, UsageError
from gridbot.schedule.parse import ScheduleError, parse
from gridbot.services import announcements as service
from gridbot.services.reminders import fmt_when
from gridbot.texts import t

AT_ALL_WORDS = ("@所有人", "@全体成员", "@all")
_PUBLISH = re.compile(r"^(.+?)(?:发布|发送|发出|发)(?:\s*[:：]\s*|\s+)(.+)$")


_CODE_LIKE = re.compile(r"^[A-Za-z]{1,10}-\d{1,4}$")  # "XF-01": a grid code, even one that does not exist


def _grid_heads(text: str) -> list[tuple[str, str]]:
    """Where the grids named at the start could end: at the first space ("XF-01,XF-02 停水"), or at the first
    Chinese comma or colon ("XF-01，停水", "第一网格：停水")."""
    heads = []
    first, _, rest = text.partition(" ")
    heads.append((first, rest))
    m = re.match(r"^([^\s，：:]+?)[，：:]\s*(.+)$", text)
    if m and m.group(1) != first:
        heads.append((m.group(1), m.group(2)))
    return heads


def _read_time(words: str, now: datetime, tz: str) -> datetime | None:
    """An instant if `words` is a time and nothing else; raises UsageError if it is a repeating one."""
    try:
        s = parse(words, now, tz)
    except ScheduleError:
        return None
    if s.text:
        return None
    if s.recurring:
        raise UsageError("schedule.announcement.recurring")
    return s.at


def split_schedule(text: str, now: datetime, tz: str) -> tuple[datetime | None, str]:
    """(send_at or None, the announcement's text)."""
    if text.startswith("定时"):
        tokens = text[2:].strip().split(" ")
        for n in range(min(3, len(tokens)), 0, -1):
            at = _read_time(" ".join(tokens[:n]), now, tz)
            if at is not None:
                return at, " ".join(tokens[n:]).strip()
        try:
            parse(tokens[0] if tokens else "", now, tz)
        except ScheduleError as err:  # the parser's own words already say what it did not understand
            raise UsageError("schedule.announcement.unreadable", detail=err.text) from None
        raise UsageError("schedule.announcement.bad_time", detail=tokens[0])
    m = _PUBLISH.match(text)
    if m:
        at = _read_time(m.group(1).strip(), now, tz)
        if at is not None:
            return at, m.group(2).strip()
    return None, text


def announce(ctx: Context, args: str) -> list[Reply]:
    if not args:
        raise UsageError()
    sp = ctx.speaker
    text = args
    mention_all = False
    for word in AT_ALL_WORDS:
        if word in text:
            mention_all = True
            text = text.replace(word, " ")
    text = re.sub(r"\s+", " ", text).strip()
    scope, grid_ids = None, []
    if text.startswith("全社区"):
        if not sp.roles & LEADERS:
            return [Reply(t("schedule.announcement.community_leaders_only"))]
        if not service.covers_community(ctx.session, sp.community_id, sp.scope_grid_ids):
            # a level-2 leader speaks to their own grids, not to the other leaders' residents
            return [Reply(t("schedule.announcement.community_not_yours",
                            example=",".join(service.grid_codes(ctx.session, sorted(sp.grid_ids)))))]
        scope, text = "community", text[3:].lstrip(" ,，:：")
    elif sp.community_id:
        for first, remainder in _grid_heads(text):
            words = service.split_grid_words(first)
            found = service.find_grids(ctx.session, sp.community_id, words)
            code_like = [w for w in found.unknown if _CODE_LIKE.match(w)]
            if remainder and (found.ids or code_like):
                if found.unknown:  # "公告 XF-09 停水" is a mistyped grid, not a notice that starts "XF-09"
                    return [Reply(t("schedule.announcement.unknown_grid", names="、".join(found.unknown)))]
                scope, grid_ids, text = "grids", found.ids, remainder.strip()
                break
    if scope is None:
        here = sp.chat_grid_id
        if here is None and len(sp.grid_ids) == 1:
            here = next(iter(sp.grid_ids))
        if here is None:
            raise UsageError("schedule.announcement.need_grid")
        scope, grid_ids = "grid", [here]
    if scope != "community":
        outside = [g for g in grid_ids if not sp.can_act_in(g)]
        if outside:
            names = "、".join(service.grid_names(ctx.session, outside))
            return [Reply(t("schedule.announcement.out_of_scope", names=names))]
    tz = ctx.app.settings.timezone
    send_at, text = split_schedule(text, ctx.now, tz)
    if not text:
        raise UsageError("schedule.announcement.need_text")
    ann, rows = service.create(ctx.session, community_id=sp.staff_community_id, author_member_id=sp.member_id,
                               author_userid=sp.user_id, author_name=sp.name or sp.user_id, actor=sp.actor,
                               scope=scope, grid_ids=grid_ids, text=text, mention_all=mention_all,
                               send_at=send_at, now=ctx.now)
    if ann.status == "sent":
        lines = [t("schedule.announcement.sent_title", id=ann.id), *service.summary_lines(ann)]
        held = [r.not_before for r in rows if r.not_before is not None]
        if held:
            lines.append(t("schedule.announcement.quiet", when=fmt_when(min(held), tz, ctx.now)))
    else:
        lines = [t("schedule.announcement.scheduled_title", id=ann.id, when=fmt_when(send_at, tz, ctx.now)),
                 *service.summary_lines(ann)]
    return [Reply("\n".join(lines))]


def register(router: Router) -> None:
    router.command(Command("公告", announce, roles=STAFF, glued=True, group="work"))
