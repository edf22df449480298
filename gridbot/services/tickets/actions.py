"""The members' life-cycle actions (受理 不予立案 重复 派遣 处置 办结 核查 结案 转派 升级 重开), the residents' rating,
and the escalation ladder they share with the sweep. Each action first asks lifecycle.check, the rule behind
allowed_actions, so the chat, the console and the API take exactly the same steps.

Every function takes a Session and plain values and never commits; each returns the ticket (and for 升级 the
level reached): the reply to the person who acted is the caller's to compose.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import Grid, Member, MemberGrid, Ticket, TicketReporter
from ...models.tickets import ACTIVE_STATUSES, RATINGS
from ...privacy import group_text, mask_text
from ...texts import t
from ..people import Speaker, find_member
from . import hold
from .assignment import available, grid_leaders, ladder_targets, partners
from .duplicates import is_reporter
from .errors import TicketError
from .lifecycle import ACTIONS, LADDER, check, event, move
from .names import category_name, phone_line, rating_name, status_name
from .notifications import dispatched_text, notify, tell_reporters
from .queries import find_for_member, find_ticket
from .sla import URGENT, Policy

RATING_WORDS = {"满意": "satisfied", "基本满意": "basic", "不满意": "dissatisfied"}


def _load(session: Session, speaker: Speaker, ref: str) -> tuple[Ticket, Member]:
    """The ticket the member acts on (queries.find_for_member: 转派 across grids, 监督评议)."""
    return find_for_member(session, speaker, ref)


def _decide(session: Session, ticket: Ticket, actor: str, action: str, now: datetime) -> None:
    """A leader decided a complaint (assigned or ended it): from now on it is an ordinary ticket to everyone."""
    if ticket.concealed:
        ticket.concealed = False
        event(session, ticket, actor, "complaint_decided", now, detail={"by": action})


def accept(session: Session, policy: Policy, speaker: Speaker, ref: str, now: datetime,
           platform: str | None = None) -> Ticket:
    """受理/立案: the reporter is told the ticket is accepted (this is the first response)."""
    ticket, member = _load(session, speaker, ref)
    check("accept", ticket)
    move(session, ticket, "accepted", speaker.actor, "accept", now, member_id=member.id)
    ticket.accepted_at = ticket.accepted_at or now
    ticket.handover_due = None
    if ticket.assignee_id is None:
        ticket.assignee = member
    # 受理 is the response: from here the resolution limit runs (issue 18), so the ticket is never escalated as
    # unaccepted afterwards; a later 派遣 keeps this deadline
    if ticket.resolution_due is None:
        ticket.resolution_due = policy.due(now, policy.limits(ticket.category, ticket.urgency).resolution,
                                           ticket.urgency)
    if ticket.escalated_for == "response":
        ticket.escalation_level, ticket.escalated_for = 0, None
    tell_reporters(session, ticket, "tickets.tell.accepted", now, platform)
    return ticket


def _end_rejected(session: Session, speaker: Speaker, ref: str, note: str, now: datetime,
                  detail: dict[str, Any] | None = None) -> Ticket:
    """The ticket ends as rejected (event "reject"): 不予立案 and 不是工单 alike; the caller tells the reporters."""
    ticket, member = _load(session, speaker, ref)
    check("reject", ticket)
    move(session, ticket, "rejected", speaker.actor, "reject", now, note=note, member_id=member.id, detail=detail)
    ticket.handover_due = None
    ticket.closed_at = now
    _decide(session, ticket, speaker.actor, "reject", now)
    return ticket


def reject(session: Session, speaker: Speaker, ref: str, reason: str, now: datetime,
           platform: str | None = None) -> Ticket:
    """不予立案: not a matter for the grid; the reporter is told why."""
    if not reason.strip():
        raise TicketError("reason_needed", command="不予立案")
    ticket = _end_rejected(session, speaker, ref, reason, now)
    tell_reporters(session, ticket, "tickets.tell.rejected", now, platform, reason=group_text(reason))
    return ticket


NOT_A_REQUEST = "not_a_request"    # the "reject" event's detail key of a 不是工单


def not_a_request(session: Session, speaker: Speaker, ref: str, note: str, now: datetime,
                  platform: str | None = None) -> Ticket:
    """不是工单: the bot took a message that asked for nothing (thanks, news, a neighbour's question) for a request.
    The ticket ends as 不予立案 (event "reject", detail not_a_request) so `gridbot understanding train` learns the
    message as not a request; the reporter is told gently that nothing is needed, not that a request was refused."""
    reason = t("tickets.not_request.reason") + (f"：{note.strip()}" if note.strip() else "")
    ticket = _end_rejected(session, speaker, ref, reason, now, detail={NOT_A_REQUEST: True})
    tell_reporters(session, ticket, "tickets.tell.not_request", now, platform)
    return ticket


def shown_action(ev: Any) -> str:
    """An event's action as people name it: a 不是工单 is stored as "reject" (so retraining learns the message as a
    non-request) but shows as what the member did, "not_request"."""
    return "not_request" if ev.action == "reject" and (ev.detail or {}).get(NOT_A_REQUEST) else str(ev.action)


def mark_duplicate(session: Session, speaker: Speaker, ref: str, of_ref: str, now: datetime,
                   platform: str | None = None) -> tuple[Ticket, Ticket]:
    """重复 N M: N is the same thing as M; N's reporters join M (and hear when M is solved). Returns (N, M)."""
    ticket, member = _load(session, speaker, ref)
    target = find_ticket(session, of_ref, speaker.scope_grid_ids, member_id=member.id)
    if target.id == ticket.id:
        raise TicketError("same_ticket")
    if target.status not in ACTIVE_STATUSES:
        raise TicketError("target_finished", number=target.number, status=status_name(target.status))
    move(session, ticket, "duplicate", speaker.actor, "duplicate", now, member_id=member.id,
         detail={"into": target.number})
    ticket.merged_into_id = target.id
    ticket.handover_due = None
    ticket.closed_at = now
    moved = 0
    for r in ticket.reporter_links:
        if not is_reporter(target, r.user_id):
            target.reporter_links.append(TicketReporter(platform=r.platform, user_id=r.user_id, name=r.name,
                                                        chat_id=r.chat_id, text=r.text, joined_at=now))
            moved += 1
    target.reporters = (target.reporters or 1) + moved
    event(session, target, speaker.actor, "merge", now, member_id=member.id,
          detail={"from": ticket.number, "reporters": target.reporters})
    tell_reporters(session, ticket, "tickets.tell.duplicate", now, platform, into=target.number)
    return ticket, target


def dispatch(session: Session, policy: Policy, speaker: Speaker, ref: str, to_word: str, now: datetime,
             platform: str | None = None) -> Ticket:
    """派遣 N @成员: hand the ticket to a member; the resolution clock starts."""
    ticket, member = _load(session, speaker, ref)
    target = find_member(session, ticket.community_id, to_word) if to_word.strip() else member
    if target is None:
        raise TicketError("member_not_found", word=to_word.strip())
    check("dispatch", ticket)
    if target.id != member.id:
        _at_work(session, ticket, target, now)
    if ticket.status == "reported":   # dispatching an unaccepted ticket accepts it first (one step less)
        accept(session, policy, speaker, ticket.number, now, platform)
    move(session, ticket, "dispatched", speaker.actor, "dispatch", now, member_id=target.id,
         detail={"to": target.userid})
    _start_clock(policy, ticket, target, now)
    _decide(session, ticket, speaker.actor, "dispatch", now)
    if target.id != member.id:
        notify(session, [target], dispatched_text(ticket, policy, member), now, platform, ticket,
               urgent=ticket.urgency == URGENT)
    return ticket


def _at_work(session: Session, ticket: Ticket, target: Member, now: datetime) -> None:
    """派遣/转派 to a member on leave (请假) or marked 在岗=否 would leave the ticket with nobody: refused, naming who
    covers for them (issue 18, point 6)."""
    if available(session, target, now):
        return
    cover = next((m for m in partners(session, target, now) if m.id != target.id and available(session, m, now)), None)
    raise TicketError("target_away", number=ticket.number, name=target.name,
                      cover=t("tickets.errors.target_away_cover", name=cover.name) if cover else "")


def _start_clock(policy: Policy, ticket: Ticket, target: Member, now: datetime) -> None:
    ticket.assignee = target
    ticket.dispatched_at = now
    if ticket.resolution_due is None:     # set at 受理 when that came first: the clock runs from the response
        ticket.resolution_due = policy.due(now, policy.limits(ticket.category, ticket.urgency).resolution,
                                           ticket.urgency)
    ticket.handover_due = None


def start(session: Session, policy: Policy, speaker: Speaker, ref: str, now: datetime,
          platform: str | None = None) -> Ticket:
    """处置: work has begun. From 受理 it dispatches to the speaker first (a grid member often does both)."""
    ticket, member = _load(session, speaker, ref)
    check("start", ticket)
    if ticket.status == "reported":
        accept(session, policy, speaker, ticket.number, now, platform)
    if ticket.status == "accepted":
        move(session, ticket, "dispatched", speaker.actor, "dispatch", now, member_id=member.id,
             detail={"to": member.userid})
        _start_clock(policy, ticket, member, now)
    move(session, ticket, "in_progress", speaker.actor, "start", now, member_id=member.id)
    return ticket


def resolve(session: Session, policy: Policy, speaker: Speaker, ref: str, note: str, now: datetime,
            platform: str | None = None) -> Ticket:
    """办结/反馈: done; every reporter is told and asked to rate within the rating window."""
    if not note.strip():
        raise TicketError("reason_needed", command="办结")
    ticket, member = _load(session, speaker, ref)
    check("resolve", ticket)
    if ticket.status == "accepted":    # handled on the spot (an urgent case): dispatched to the speaker on the way
        move(session, ticket, "dispatched", speaker.actor, "dispatch", now, member_id=member.id,
             detail={"to": member.userid, "on_the_spot": True})
        _start_clock(policy, ticket, member, now)
    move(session, ticket, "resolved", speaker.actor, "resolve", now, note=note, member_id=member.id)
    _decide(session, ticket, speaker.actor, "resolve", now)
    ticket.resolved_at = now
    ticket.verify_due = policy.due(now, policy.limits(ticket.category, ticket.urgency).verify, ticket.urgency)
    ticket.rating_due = now + policy.rating_window
    ticket.rating = None
    for r in ticket.reporter_links:
        r.rating, r.rated_at = None, None
    # the rating question as tappable choices where the channel has them (微信客服 msgmenu, doc 94677)
    choices = [[f"rate:{code}", rating_name(code)] for code in ("satisfied", "basic", "dissatisfied")]
    # the full note stays in the ticket; what the group reads names the building only (3栋1单元302 -> 3栋)
    tell_reporters(session, ticket, "tickets.tell.resolved", now, platform, extra={"choices": choices},
                   note=group_text(note), days=int(policy.rating_window.total_seconds() // 86400))
    return ticket


def verify_failed_note(note: str) -> bool:
    """"核查 N 不通过 原因" sends the ticket back to 处置."""
    return note.strip().startswith(("不通过", "未通过", "没解决", "未解决", "不合格", "没通过", "没修好"))


def verify(session: Session, policy: Policy, speaker: Speaker, ref: str, note: str, now: datetime,
           platform: str | None = None) -> Ticket:
    """核查: a member re-checked on site. "核查 N 不通过 原因" sends it back to 处置."""
    ticket, member = _load(session, speaker, ref)
    if verify_failed_note(note):
        check("verify_failed", ticket)
        dropped = ticket.rating
        move(session, ticket, "in_progress", speaker.actor, "verify_failed", now, note=note, member_id=member.id,
             detail={"dropped_rating": dropped} if dropped else None)
        ticket.resolution_due = policy.due(now, policy.limits(ticket.category, ticket.urgency).resolution,
                                           ticket.urgency)
        ticket.verify_due = ticket.rating_due = None
        # a rating of work that failed its check rates nothing: it goes, and the re-resolution asks again
        ticket.rating = None
        for r in ticket.reporter_links:
            r.rating, r.rated_at = None, None
        ticket.escalation_level, ticket.escalated_for = 0, None
        notify(session, [ticket.assignee], t("tickets.notify.verify_failed", number=ticket.number,
                                             note=mask_text(note), by=member.name), now, platform, ticket)
        return ticket
    check("verify", ticket)
    move(session, ticket, "verified", speaker.actor, "verify", now, note=note or None, member_id=member.id)
    ticket.verify_due = None
    return ticket


def close(session: Session, speaker: Speaker, ref: str, now: datetime, platform: str | None = None) -> Ticket:
    """结案: the case is closed. A rating already given completes it (评价)."""
    ticket, member = _load(session, speaker, ref)
    check("close", ticket)
    move(session, ticket, "closed", speaker.actor, "close", now, member_id=member.id)
    _decide(session, ticket, speaker.actor, "close", now)
    ticket.closed_at = now
    if ticket.rating in ("satisfied", "basic", "none"):
        event(session, ticket, "system", "rated", now, to="rated", detail={"rating": ticket.rating})
    return ticket


def transfer(session: Session, policy: Policy, speaker: Speaker, ref: str, to_word: str, note: str,
             now: datetime, platform: str | None = None) -> Ticket:
    """转派: another member takes it over, status unchanged; both are told."""
    ticket, member = _load(session, speaker, ref)
    check("transfer", ticket)
    target = find_member(session, ticket.community_id, to_word)
    if target is None:
        raise TicketError("member_not_found", word=to_word.strip() or "?")
    if target.id == ticket.assignee_id:
        raise TicketError("already_assignee", number=ticket.number, name=target.name)
    _at_work(session, ticket, target, now)
    previous = ticket.assignee
    detail: dict[str, Any] = {"from": previous.userid if previous else None, "to": target.userid}
    grid_id = _receiving_grid(session, ticket, target)
    if grid_id != ticket.grid_id:     # to another grid's member: the ticket is that grid's now (its ladder, scope)
        codes = dict(session.execute(select(Grid.id, Grid.code).where(Grid.id.in_((ticket.grid_id, grid_id)))).all())
        detail["grid"] = {"from": codes.get(ticket.grid_id), "to": codes.get(grid_id)}
        ticket.grid_id = grid_id
    event(session, ticket, speaker.actor, "transfer", now, note=note or None, member_id=target.id, detail=detail)
    _decide(session, ticket, speaker.actor, "transfer", now)
    ticket.assignee = target
    if ticket.status == "reported":
        # the new assignee's AB岗 window runs on the ticket's clock (working time for a normal ticket)
        ticket.handover_due = policy.due(now, policy.limits(ticket.category, ticket.urgency).handover,
                                         ticket.urgency)
    ticket.escalation_level, ticket.escalated_for = 0, None
    notify(session, [target], t("tickets.notify.transferred", number=ticket.number,
                                category=category_name(ticket.category), place=ticket.place or "-",
                                summary=ticket.summary, by=member.name, note=mask_text(note) or "-",
                                phone_line=phone_line(ticket)),
           now, platform, ticket, urgent=ticket.urgency == URGENT)
    if previous is not None and previous.id not in (member.id, target.id):
        notify(session, [previous], t("tickets.notify.transferred_away", number=ticket.number, to=target.name),
               now, platform, ticket)
    return ticket


def _receiving_grid(session: Session, ticket: Ticket, target: Member) -> int:
    """The ticket's grid if the member works in it (or above it); else the member's own grid (the first linked)."""
    own = list(session.scalars(select(MemberGrid.grid_id).where(MemberGrid.member_id == target.id)
                               .order_by(MemberGrid.grid_id)))
    if not own or ticket.grid_id in own:
        return ticket.grid_id
    grid = session.get(Grid, ticket.grid_id)
    while grid is not None and grid.parent_id is not None:     # a member of a grid above covers the ones below
        if grid.parent_id in own:
            return ticket.grid_id
        grid = session.get(Grid, grid.parent_id)
    return own[0]


def escalate(session: Session, policy: Policy, speaker: Speaker, ref: str, note: str, now: datetime,
             platform: str | None = None) -> tuple[Ticket, int]:
    """升级: one step up the ladder now (grid leader → secretary; beyond the secretary, to the chief grid leader and
    the responsible unit, only an urgent or repeated ticket, or the secretary's own 升级: the plans' 社区吹哨)."""
    ticket, member = _load(session, speaker, ref)
    check("escalate", ticket)
    roles = ["grid_leader", "secretary"]
    if ("chief" in policy.ladder_for(ticket) or speaker.roles & {"secretary", "chief"}):
        roles.append("chief")
    above = [LADDER.index(r) for r in roles if LADDER.index(r) > ticket.escalation_level]
    if not above:
        raise TicketError("top_of_ladder" if "chief" in roles else "secretary_decides", number=ticket.number)
    level = above[0]
    raise_to(session, policy, ticket, level, speaker.actor, now, platform, note=note, manual=True, by=member)
    return ticket, level


def reopen(session: Session, policy: Policy, speaker: Speaker, ref: str, note: str, now: datetime,
           platform: str | None = None) -> Ticket:
    """重开: a member reopens a finished ticket (the problem came back)."""
    ticket, _member_row = _load(session, speaker, ref)
    check("reopen", ticket)
    _reopen(session, policy, ticket, speaker.actor, note, now, platform)
    return ticket


def _reopen(session: Session, policy: Policy, ticket: Ticket, actor: str, note: str | None, now: datetime,
            platform: str | None) -> None:
    move(session, ticket, "in_progress", actor, "reopen", now, note=note or None)
    ticket.reopen_count = (ticket.reopen_count or 0) + 1
    ticket.resolution_due = policy.due(now, policy.limits(ticket.category, ticket.urgency).resolution,
                                       ticket.urgency)
    ticket.verify_due = ticket.rating_due = ticket.closed_at = None
    ticket.rating = None
    ticket.escalation_level, ticket.escalated_for = 0, None
    people = [ticket.assignee] + grid_leaders(session, ticket.grid_id)
    notify(session, people, t("tickets.notify.reopened", number=ticket.number,
                              category=category_name(ticket.category), place=ticket.place or "-",
                              note=mask_text(note or "") or "-"), now, platform, ticket)


def run_action(session: Session, policy: Policy, speaker: Speaker, number: str, action: str, note: str, to: str,
               now: datetime) -> Ticket:
    """One life-cycle step by its action name (the console's buttons, POST /api/v1/tickets/N/transition): the same
    service call as the chat command. Raises TicketError when refused, KeyError for an unknown action."""
    calls: dict[str, Callable[[], Any]] = {
        "accept": lambda: accept(session, policy, speaker, number, now),
        "reject": lambda: reject(session, speaker, number, note, now),
        "not_request": lambda: not_a_request(session, speaker, number, note, now),
        "dispatch": lambda: dispatch(session, policy, speaker, number, to, now),
        "start": lambda: start(session, policy, speaker, number, now),
        "resolve": lambda: resolve(session, policy, speaker, number, note, now),
        "verify": lambda: verify(session, policy, speaker, number, note, now),
        "verify_failed": lambda: verify(session, policy, speaker, number, "不通过 " + note, now),
        "close": lambda: close(session, speaker, number, now),
        "reopen": lambda: reopen(session, policy, speaker, number, note, now),
        "transfer": lambda: transfer(session, policy, speaker, number, to, note, now),
        "escalate": lambda: escalate(session, policy, speaker, number, note, now),
        "hold": lambda: hold.suspend(session, policy, speaker, number, note, now),
        "resume": lambda: hold.resume(session, policy, speaker, number, now),
    }
    assert calls.keys() == ACTIONS.keys()
    result = calls[action]()
    return result[0] if isinstance(result, tuple) else result


# -- the escalation ladder (升级 and the sweep) ---------------------------------------------------------------
def raise_to(session: Session, policy: Policy, ticket: Ticket, level: int, actor: str, now: datetime,
             platform: str | None, *, kind: str | None = None, note: str | None = None, manual: bool = False,
             by: Member | None = None) -> None:
    """Raise the ticket to `level` (an index into LADDER), record the step (the timeline shows the ladder) and tell
    the people at that level. `by`: the member who asked (升级); they are not told to hurry their own ticket."""
    action = "remind" if level == 1 else "escalate"
    event(session, ticket, actor, action, now, note=note,
          detail={"level": level, "role": LADDER[level], "for": kind or ticket.escalated_for or "manual",
                  "manual": manual})
    ticket.escalation_level = level
    ticket.escalated_for = kind or ("manual" if manual else ticket.escalated_for)
    why = t(f"tickets.overdue.{kind}") if kind else t("tickets.overdue.manual", note=mask_text(note or "") or "-")
    base = dict(number=ticket.number, category=category_name(ticket.category), place=ticket.place or "-",
                summary=ticket.summary, why=why, status=status_name(ticket.status),
                assignee=ticket.assignee.name if ticket.assignee else t("tickets.nobody"))
    urgent = ticket.urgency == URGENT
    if level == 1:
        notify(session, ladder_targets(session, ticket, 1, now), t("tickets.notify.remind", **base), now, platform,
               ticket, urgent=urgent)
        return
    unit = policy.unit_for(ticket.category) if LADDER[level] == "chief" else None
    text = t("tickets.notify.escalated", level=t(f"tickets.ladder.{LADDER[level]}"), **base)
    if unit:
        text += "\n" + t("tickets.notify.unit", unit=unit)
    targets = [m for m in ladder_targets(session, ticket, level, now) if m.id != ticket.assignee_id]
    # a normal ticket's escalation is not an emergency: it waits for the end of quiet hours like any notice
    notify(session, targets, text, now, platform, ticket, urgent=urgent)
    if ticket.assignee is not None and (by is None or by.id != ticket.assignee_id):
        notify(session, [ticket.assignee], t("tickets.notify.escalated_assignee", number=ticket.number,
                                             level=t(f"tickets.ladder.{LADDER[level]}")), now, platform, ticket,
               urgent=urgent)


# -- ratings -------------------------------------------------------------------------------------------------
# The ways residents write a rating (longest first wins). LOOSE ones ("还行吧") count only when a ticket of theirs
# waits for a rating: said at another time they are just words.
RATING_PHRASES = {
    "非常满意": "satisfied", "很满意": "satisfied", "十分满意": "satisfied", "特别满意": "satisfied",
    "挺满意": "satisfied", "满意": "satisfied", "好评": "satisfied",
    "基本满意": "basic", "比较满意": "basic", "还算满意": "basic", "还行": "basic", "还可以": "basic",
    "一般": "basic", "凑合": "basic", "马马虎虎": "basic",
    "不满意": "dissatisfied", "不太满意": "dissatisfied", "很不满意": "dissatisfied", "非常不满意": "dissatisfied",
    "差评": "dissatisfied",
}
LOOSE_RATINGS = frozenset({"还行", "还可以", "一般", "凑合", "马马虎虎", "好评", "差评"})
_COURTESY = ("谢谢你们", "谢谢您", "谢谢", "感谢", "多谢", "好的", "好", "嗯嗯", "嗯", "辛苦了", "辛苦", "评价", "我",
             "给个", "给", "选", "非常", "很")
_SEPARATORS = " ,，.。!！:：~～、;；…-—"
_PARTICLES = ("了", "的", "吧", "啊", "呀", "哦", "啦", "嘛", "哈")
_NUMBER = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,8}-\d{8}-\d{4}(?!\d)")


@dataclass(frozen=True)
class RatingWords:
    """A resident's rating as written: the rating code, what they added, the ticket number if they named one, and
    whether the words are loose ("还行吧": a rating only when something waits for one)."""
    rating: str
    note: str
    ref: str | None = None
    loose: bool = False


def _plain(text: str) -> str:
    """Without emoji and other symbols ("满意👍" -> "满意")."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("S", "C")) or ch in "\n")


def parse_rating(text: str) -> RatingWords | None:
    """"不满意，还是漏" -> dissatisfied, "还是漏"; "谢谢 满意👍", "非常满意", "还行吧" (loose, basic),
    "满意 XF-20261130-0001" (that ticket). Only a message that starts with a rating (after thanks) counts."""
    raw = (text or "").strip()
    found = _NUMBER.search(raw)
    ref = found.group(0).upper() if found else None
    rest = _plain(_NUMBER.sub(" ", raw)).strip(_SEPARATORS)
    for _ in range(3):                       # "谢谢，好的，满意"
        for word in _COURTESY:
            if rest.startswith(word) and not rest.startswith(tuple(p for p in RATING_PHRASES if p.startswith(word)
                                                                   and len(p) > len(word))):
                rest = rest[len(word):].lstrip(_SEPARATORS)
                break
    for phrase in sorted(RATING_PHRASES, key=len, reverse=True):
        if not rest.startswith(phrase):
            continue
        after = rest[len(phrase):]
        while after.startswith(_PARTICLES):
            after = after[1:]
        if after and after[0] not in _SEPARATORS:
            return None
        note = after.strip(_SEPARATORS).strip()
        if ref is None and re.fullmatch(r"[#＃]?\d{1,4}", note):      # "满意 3": the last digits of a number
            ref, note = note.lstrip("#＃"), ""
        return RatingWords(RATING_PHRASES[phrase], note, ref, loose=phrase in LOOSE_RATINGS)
    return None


def awaiting_ratings(session: Session, user_id: str, now: datetime) -> list[Ticket]:
    """This person's tickets that are resolved and wait for their rating (within the window), latest first."""
    return list(session.scalars(
        select(Ticket).join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
        .where(TicketReporter.user_id == user_id, TicketReporter.rating.is_(None),
               Ticket.status.in_(("resolved", "verified", "closed")), Ticket.rating_due.is_not(None),
               Ticket.rating_due > now)
        .order_by(Ticket.resolved_at.desc(), Ticket.id.desc())))


def awaiting_rating(session: Session, user_id: str, now: datetime) -> Ticket | None:
    """The latest ticket this person reported that is resolved and waits for their rating (within the window)."""
    found = awaiting_ratings(session, user_id, now)
    return found[0] if found else None


def _reported_here(waiting: list[Ticket], user_id: str, chat_id: str | None) -> list[Ticket]:
    if chat_id == "":                     # not told where the rating was said
        return []
    return [tk for tk in waiting if any(r.user_id == user_id and r.chat_id == chat_id for r in tk.reporter_links)]


def rate(session: Session, policy: Policy, *, user_id: str, rating: str, note: str, now: datetime,
         platform: str | None = None, ref: str | None = None, chat_id: str | None = "") -> Ticket | None:
    """满意 / 基本满意 / 不满意 from a reporter. 不满意 reopens the ticket. None if nothing waits for a rating.

    Which ticket: the one named (`ref`, a full number or its last digits); else the one waiting; when several wait
    and none is named, the one reported where they answer (`chat_id`: the group, None for a private chat) if only
    one was; else TicketError("rate_which") lists their numbers (the resident answers "满意 <number>")."""
    if rating not in RATINGS:
        raise ValueError(rating)
    waiting = awaiting_ratings(session, user_id, now)
    if ref:
        typed = ref.strip().lstrip("#＃").upper()
        ticket = next((tk for tk in waiting if tk.number == typed
                       or (typed.isdigit() and tk.number.endswith(f"-{int(typed):04d}"))), None)
        if ticket is None:
            raise TicketError("rate_not_waiting", ref=ref,
                              numbers="、".join(tk.number for tk in waiting) or t("tickets.nobody"))
    elif len(waiting) > 1 and len(here := _reported_here(waiting, user_id, chat_id)) == 1:
        ticket = here[0]                 # the one they reported where they answer (this group, or privately)
    elif len(waiting) > 1:
        raise TicketError("rate_which", numbers="、".join(tk.number for tk in waiting), example=waiting[0].number)
    elif waiting:
        ticket = waiting[0]
    else:
        return None
    link = next(r for r in ticket.reporter_links if r.user_id == user_id)
    link.rating, link.rated_at = rating, now
    actor = f"resident:{user_id}"
    if ticket.rating is None or rating == "dissatisfied":
        ticket.rating = rating
    if ticket.status == "closed":
        event(session, ticket, actor, "rate", now, to="rated", note=note or None, detail={"rating": rating})
    else:
        event(session, ticket, actor, "rate", now, note=note or None, detail={"rating": rating})
    if rating == "dissatisfied":
        _reopen(session, policy, ticket, actor, note or rating_name(rating), now, platform)
    return ticket
