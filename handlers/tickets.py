"""Tickets in chat: residents' requests become tickets; members walk them through the life cycle.

Rules (after the commands, before fallback): a rating reply (满意/基本满意/不满意) from someone whose ticket waits
for one, then a resident's request (gridbot.understanding decides). Commands: 受理, 不予立案, 重复, 派遣, 处置,
办结/反馈, 核查, 结案, 转派, 升级, 重开, 工单, 待办, 上报 (a patrol finding) for members; 我的工单 for residents.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from gridbot.messages import Reply
from gridbot.models import Grid, Ticket
from gridbot.router import EVERYONE, STAFF, Command, Context, Router, UsageError
from gridbot.services import answers, complaints, evidence, tickets
from gridbot.services.kf import PLATFORM as KF_PLATFORM
from gridbot.services.tickets import NewRequest, Policy, ReportResult, TicketError
from gridbot.services.tickets.names import building_text, category_name, fmt_time, minutes_text, status_name
from gridbot.services.tickets.notifications import held_note, reporters_hold
from gridbot.texts import t
from gridbot.understanding import llm, understand
from gridbot.understanding.split import split_problems


def _policy(ctx: Context) -> tickets.Policy:
    return tickets.policy_for(ctx.app)


_REF = re.compile(r"^\s*([^\s,，、:：]+)[\s,，、:：]*(.*)$", re.S)


def _split(args: str, parts: int = 1) -> list[str]:
    """"3 已更换灯泡" / "3，已更换灯泡" -> ["3", "已更换灯泡"] (at most `parts` pieces). Only the separator after
    the ticket number is dropped: the rest keeps its punctuation ("需要物业配合，物业不理"). UsageError when the
    ticket number is missing."""
    found = _REF.match(args or "")
    if found is None:
        raise UsageError()
    rest = found.group(2).strip()
    return [found.group(1)] + ([rest] if parts > 1 and rest else [])


def _safe(fn: Callable[[Context, str], list[Reply]]) -> Callable[[Context, str], list[Reply]]:
    """A refusal from the service (illegal transition, unknown ticket) is answered, not raised."""
    def run(ctx: Context, args: str) -> list[Reply]:
        try:
            return fn(ctx, args)
        except TicketError as err:
            return _done(ctx, err.text)     # a refusal names statuses and next steps: for the member only
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def _done(ctx: Context, text: str) -> list[Reply]:
    """A member's confirmation with workflow hints (下一步：派遣…). In a group residents read along: it goes to the
    member privately; the reporters hear the change in plain words from the service (@-mentioned)."""
    if ctx.inbound.is_group:
        return [Reply(text, to_user=ctx.speaker.user_id)]
    return [Reply(text)]


def _due(ctx: Context, ticket: Any) -> str:
    return fmt_time(ticket.resolution_due, _policy(ctx).tz)


def _assignee_name(ticket: Ticket) -> str:
    return ticket.assignee.name if ticket.assignee else t("tickets.nobody")


# -- what the chat says (the service returns values; the sentences are composed here) ---------------------------
def ack_text(result: ReportResult, policy: Policy, private: bool = False) -> str:
    """The reply to the resident: number, category, building, what happens next. Never a phone or a name."""
    tk = result.ticket
    place = (tk.place or building_text(tk)) if private else building_text(tk)
    values = dict(number=tk.number, category=category_name(tk.category), place=place,
                  status=status_name(tk.status), reporters=tk.reporters)
    if result.outcome == "follow_up":
        lines = [t("tickets.ack.follow_up", **values)]
    elif result.outcome == "joined":
        lines = [t("tickets.ack.joined", **values)]
    else:
        limits = policy.limits(tk.category, tk.urgency)
        lines = [t("tickets.ack.created", **values), _next_text(tk, policy, limits, private)]
    if tk.urgency == tickets.URGENT and (result.outcome == "created" or result.upgraded):
        lines.append(t("tickets.ack.urgent", number=policy.emergency_number(tk.category)))
    return "\n".join(lines)


def _next_text(tk: Any, policy: Policy, limits: Any, private: bool) -> str:
    """What happens next, truthfully: "60分钟内响应" when the clock runs now; out of working time the time it will be
    answered by; in quiet hours also that the member sees it in the morning (their notice waits, issue 18)."""
    suffix = "_private" if private else ""        # in 1:1 the progress comes privately, not in a group
    reported = tk.created_at
    later = tk.assignee_id and tk.response_due > reported + limits.response + timedelta(minutes=1)
    if not later:
        return t(("tickets.ack.next_assigned" if tk.assignee_id else "tickets.ack.next_unassigned") + suffix,
                 response=minutes_text(limits.response), grid=tk.grid.name)
    morning = reporters_hold(tk, reported)
    values = dict(grid=tk.grid.name, due=fmt_time(tk.response_due, policy.tz), response=minutes_text(limits.response))
    if morning is not None:
        return t("tickets.ack.next_quiet" + suffix, morning=f"{morning.astimezone(policy.tz):%H:%M}", **values)
    return t("tickets.ack.next_later" + suffix, **values)


def my_tickets_text(ctx: Context) -> str:
    found = tickets.tickets_of(ctx.session, ctx.speaker.user_id)
    if not found:
        return t("tickets.mine.none")
    lines = [t("tickets.mine.title", n=len(found))]
    for tk in found:
        lines.append(t("tickets.mine.line", number=tk.number, category=category_name(tk.category),
                       building=building_text(tk), status=status_name(tk.status)))
    return "\n".join(lines)


def todo_text(ctx: Context, assigned: list[Any]) -> str:
    if not assigned:
        return t("tickets.todo.none")
    tz = _policy(ctx).tz
    lines = [t("tickets.todo.title", n=len(assigned))]
    for tk in assigned:
        # 受理 met the response limit: from then on the resolution limit is what is due (issue 18)
        due = tk.response_due if tk.status == "reported" else (tk.resolution_due or tk.verify_due)
        lines.append(t("tickets.todo.line", number=tk.number, category=category_name(tk.category),
                       place=tk.place or "-", status=status_name(tk.status), due=fmt_time(due, tz),
                       urgent=t("tickets.urgent_mark") if tk.urgency == tickets.URGENT else ""))
    return "\n".join(lines)


def detail_text(ctx: Context, ref: str, private: bool) -> str:
    """工单 N: the ticket and its timeline, for members. The contact phone only in a private chat."""
    ticket = tickets.find_ticket(ctx.session, ref, ctx.speaker.scope_grid_ids, member_id=ctx.speaker.member_id)
    tz = _policy(ctx).tz
    lines = [t("tickets.detail.head" if private else "tickets.detail.head_group", number=ticket.number,
               category=category_name(ticket.category), urgency=t(f"tickets.urgency.{ticket.urgency}"),
               status=status_name(ticket.status), place=(ticket.place or "-") if private else building_text(ticket),
               reporters=ticket.reporters, assignee=ticket.assignee.name if ticket.assignee else t("tickets.nobody"),
               summary=ticket.summary)]
    if private and ticket.contact_phone:
        lines.append(t("tickets.detail.phone", phone=ticket.contact_phone))
    if ticket.escalation_level >= 2:
        ladder = tickets.LADDER[ticket.escalation_level]
        lines.append(t("tickets.detail.escalated", level=t(f"tickets.ladder.{ladder}")))
    lines.append(t("tickets.detail.next", next=tickets.next_steps(ticket)))
    events = ticket.events[-12:]
    names = tickets.member_names(ctx.session, [ev.actor for ev in events])
    for ev in events:
        lines.append(t("tickets.detail.event", at=fmt_time(ev.at, tz), action=t(f"tickets.actions.{ev.action}"),
                       who=tickets.actor_name(ev.actor, names), note=f"：{ev.note}" if ev.note and private else ""))
    return "\n".join(lines)


def _request(ctx: Context, u: Any, **fields: Any) -> NewRequest:
    """The NewRequest for an understood message (`fields` override: grid, chat, actor …)."""
    inbound = ctx.inbound
    loc = u.location
    values: dict[str, Any] = dict(
        platform=inbound.platform, user_id=ctx.speaker.user_id, name=inbound.sender_name, text=inbound.text,
        chat_id=inbound.chat_id if inbound.is_group else None,
        grid_id=_chat_grid(ctx), category=u.category, urgency=u.urgency,
        building=getattr(loc, "building", None), unit=getattr(loc, "unit", None), room=getattr(loc, "room", None),
        phones=tuple(u.phones or ()), summary=u.summary, household_ids=frozenset(ctx.speaker.household_ids),
        via="voice" if inbound.kind == "voice" else "text")
    values.update(fields)
    return NewRequest(**values)


def _chat_grid(ctx: Context) -> int | None:
    """The grid a message came from: its group's, or the 微信客服 link's the resident came by (issue 17)."""
    inbound = ctx.inbound
    return ctx.speaker.chat_grid_id if inbound.is_group or inbound.platform == KF_PLATFORM else None


# -- the two rules --------------------------------------------------------------------------------------
def _rating_check(ctx: Context) -> tickets.RatingWords | None:
    if not ctx.inbound.is_text or ctx.speaker.is_member:
        return None
    words = tickets.parse_rating(ctx.text)
    if words is not None and words.loose and not words.ref \
            and tickets.awaiting_rating(ctx.session, ctx.speaker.user_id, ctx.now) is None:
        return None                 # "还行吧" with nothing to rate is just words
    return words


def _rating_run(ctx: Context, match: tickets.RatingWords) -> list[Reply]:
    return _rate(ctx, match)


def _rate(ctx: Context, match: tickets.RatingWords) -> list[Reply]:
    rating, note = match.rating, match.note
    try:
        ticket = tickets.rate(ctx.session, _policy(ctx), user_id=ctx.speaker.user_id, rating=rating, note=note,
                              now=ctx.now, platform=ctx.inbound.platform, ref=match.ref,
                              chat_id=ctx.inbound.chat_id if ctx.inbound.is_group else None)
    except TicketError as err:          # several wait and none was named, or the one named does not wait
        return [Reply(err.text)]
    if ticket is None:
        addressed = ctx.inbound.mentioned or not ctx.inbound.is_group
        return [Reply(t("tickets.rate.nothing"))] if addressed else []
    if rating == "dissatisfied":
        return [Reply(t("tickets.rate.reopened", number=ticket.number))]
    return [Reply(t("tickets.rate.thanks", number=ticket.number, rating=tickets.rating_name(rating)))]


def _request_check(ctx: Context) -> Any:
    """A resident's message that gridbot.understanding calls a request. Members' messages never are."""
    inbound = ctx.inbound
    if not inbound.is_text or ctx.speaker.is_member or not ctx.text:
        return None
    if inbound.is_group and ctx.speaker.chat_grid_id is None:
        return None
    u = _second_opinion(ctx, understand(ctx.text))
    if not u.is_request and inbound.addressed and answers.wants_person(_book(ctx), ctx.text):
        # "办居住证找人问一下", "电话打不通": asked for a person, so a person gets it (a ticket)
        u = dataclasses.replace(u, is_request=True, category=u.category or "consultation")
    if not u.is_request and inbound.addressed:
        # "还是漏水 越来越大了": not a request told alone, but the same problem as the resident's own open ticket
        own = tickets.continued_ticket(ctx.session, _policy(ctx), ctx.speaker.user_id, ctx.text, ctx.now)
        if own is not None:
            u = dataclasses.replace(u, is_request=True, category=own.category)
    if not u.is_request:
        return _unclear(ctx, u)
    # In a group we answer when @-mentioned (or read from the archive: Inbound.addressed); an urgent message is
    # taken even without the mention.
    if not inbound.addressed and u.urgency != tickets.URGENT:
        return None
    return u


def _second_opinion(ctx: Context, u: Any) -> Any:
    """The optional large model's second opinion (config/llm.yaml): raises only; a no-op when not configured.

    Not asked here when process() runs the message: this runs inside its transaction, which holds the message's
    row lock and a pooled connection, and the call may take timeout_seconds (4 s). AskFirst rolls it back (nothing
    changed yet that is kept), process() asks outside, then runs the message again with the answer in
    ctx.llm_answers, used here: asked once per message, the budget counted once. Without the model, or for a
    message it is not asked about, no AskFirst: one transaction, as before."""
    inbound = ctx.inbound
    settings = ctx.app.settings
    q = llm.question(settings, ctx.text, u, ref=f"inbound {inbound.inbound_id}")
    if q is None:
        return u
    answers = ctx.llm_answers
    if answers is None or inbound.inbound_id is None:     # not in process(): no transaction to keep the call out of
        return llm.apply(q, llm.ask_outside(settings, q, ctx.now, ctx.app.redis))
    if inbound.inbound_id not in answers:
        raise llm.AskFirst(q)
    return llm.apply(q, answers[inbound.inbound_id])


class Unclear:
    """The request rule's match for a message that is neither a request nor chatter: a human should see it."""


def _unclear(ctx: Context, u: Any) -> Unclear | None:
    inbound = ctx.inbound
    if not (inbound.mentioned or not inbound.is_group):
        return None
    command = ctx.app.router.parse_command(inbound.text)
    if command is not None and not command.glued and not command.command.allowed(ctx.speaker):
        return None  # "受理 12" from a resident: the fallback explains the command is for members
    limits = _policy(ctx).unclear_settings()
    if not limits["enabled"] or u.scores.get("chatter", 0) > limits["max_chatter"]:
        return None
    if len(ctx.text.replace(" ", "")) < limits["min_chars"]:
        return None
    return Unclear()


def _forward_unclear(ctx: Context) -> list[Reply]:
    inbound = ctx.inbound
    member = tickets.forward_unclear(
        ctx.session, _policy(ctx), grid_id=_chat_grid(ctx),
        household_ids=ctx.speaker.household_ids, user_id=ctx.speaker.user_id, name=inbound.sender_name,
        text=inbound.text.strip(), chat_id=inbound.chat_id if inbound.is_group else None, now=ctx.now,
        platform=inbound.platform)
    if member is None:
        return [Reply(t("fallback.resident"))]
    return [Reply(t("tickets.unclear.resident"), mentions=[ctx.speaker.user_id] if inbound.is_group else [])]


def _request_run(ctx: Context, u: Any) -> list[Reply]:
    if isinstance(u, Unclear):
        return _forward_unclear(ctx)
    return _report(ctx, u)


def _problems(ctx: Context, u: Any) -> list[tuple[str, Any]]:
    """The message's problems, each (text, understanding): several when the resident listed several
    (understanding/split.py) and each piece is a request of its own that differs from the others in what or
    where; else the whole message, once."""
    pieces = split_problems(ctx.text)
    if len(pieces) < 2:
        return [(ctx.text, u)]
    found = [(p, understand(p)) for p in pieces]
    if not all(pu.is_request for _p, pu in found):
        return [(ctx.text, u)]
    if u.is_urgent and not any(pu.is_urgent for _p, pu in found):
        return [(ctx.text, u)]          # urgent as a whole (the large model said so): one urgent ticket, not lost
    keys = {(pu.category, getattr(pu.location, "building", None)) for _p, pu in found}
    if len(keys) < len(found):          # the same thing twice is one problem told in two sentences
        return [(ctx.text, u)]
    return found


def _report(ctx: Context, u: Any) -> list[Reply]:
    inbound = ctx.inbound
    problems = _problems(ctx, u)
    if len(problems) > 1:
        return _report_several(ctx, problems)
    try:
        result = tickets.report(ctx.session, _policy(ctx), _request(ctx, u), ctx.now)
    except TicketError as err:
        return [Reply(err.text)]
    text = ack_text(result, _policy(ctx), private=not inbound.is_group)
    stored, lost = _attach_pictures(ctx, result.ticket)
    if stored:
        text += "\n" + t("tickets.evidence.received", n=stored)
    elif lost:
        text += "\n" + t("tickets.evidence.lost")
    urgent = result.ticket.urgency == tickets.URGENT
    return [Reply(text, mentions=[ctx.speaker.user_id] if inbound.is_group else [], urgent=urgent)]


def _report_several(ctx: Context, problems: list[tuple[str, Any]]) -> list[Reply]:
    """Two problems, two tickets: each with its own place and category; the ack lists every number."""
    inbound = ctx.inbound
    private = not inbound.is_group
    results = []
    try:
        for piece, pu in problems:
            results.append(tickets.report(ctx.session, _policy(ctx), _request(ctx, pu, text=piece), ctx.now))
    except TicketError as err:
        return [Reply(err.text)]
    lines = [t("tickets.several.head", n=len(results))]
    for result in results:
        tk = result.ticket
        lines.append(t("tickets.several.line", number=tk.number, category=category_name(tk.category),
                       place=(tk.place or building_text(tk)) if private else building_text(tk)))
    first = results[0].ticket
    # what happens next, truthfully for each (an urgent one now, a normal one told at night in the morning): one
    # line when they agree, else one per ticket, the urgent first
    policy = _policy(ctx)
    created = sorted((r.ticket for r in results if r.outcome == "created"), key=lambda tk: tk.urgency != tickets.URGENT)
    nexts = {tk.number: _next_text(tk, policy, policy.limits(tk.category, tk.urgency), private) for tk in created}
    if len(set(nexts.values())) == 1:
        lines.append(next(iter(nexts.values())))
    else:
        lines += [f"{number}：{text}" for number, text in nexts.items()]
    urgent = [r.ticket for r in results if r.ticket.urgency == tickets.URGENT]
    if urgent:
        lines.append(t("tickets.ack.urgent", number=_policy(ctx).emergency_number(urgent[0].category)))
    stored, lost = _attach_pictures(ctx, first)
    if stored:
        lines.append(t("tickets.evidence.received", n=stored))
    elif lost:
        lines.append(t("tickets.evidence.lost"))
    return [Reply("\n".join(lines), mentions=[ctx.speaker.user_id] if inbound.is_group else [], urgent=bool(urgent))]


# -- simple questions and complaints (issue 18): answered from config/answers.yaml; complaints go past the member --
def _book(ctx: Context) -> answers.AnswerBook:
    return answers.load(ctx.app.settings.config_dir)


def _addressed_resident(ctx: Context) -> bool:
    inbound = ctx.inbound
    if not inbound.is_text or ctx.speaker.is_member or not ctx.text:
        return False
    return not (inbound.is_group and (ctx.speaker.chat_grid_id is None or not inbound.addressed))


def _answer_check(ctx: Context) -> answers.Answer | None:
    """A simple question the community's answers cover ("社区几点上班？"): answered, no ticket. Not when the
    resident asks for a person, and never for an urgent message."""
    if not _addressed_resident(ctx):
        return None
    found = answers.find_answer(_book(ctx), ctx.text)
    if found is None or understand(ctx.text).urgency == tickets.URGENT:
        return None
    return found


def _answer_run(ctx: Context, found: answers.Answer) -> list[Reply]:
    """The answer; and when the message also tells a problem ("几点上班？另外3栋楼道灯坏了"), a ticket for it."""
    mentions = [ctx.speaker.user_id] if ctx.inbound.is_group else []
    replies = [Reply(found.text, mentions=mentions)]
    rest = answers.rest_of(found, ctx.text)
    u = understand(rest) if rest else None
    if u is None or not u.is_request or u.category in (None, "consultation") or not _names_a_problem(u):
        return replies
    try:
        result = tickets.report(ctx.session, _policy(ctx), _request(ctx, u, text=rest), ctx.now)
    except TicketError as err:
        return [*replies, Reply(err.text)]
    return [*replies, Reply(ack_text(result, _policy(ctx), private=not ctx.inbound.is_group), mentions=mentions)]


def _names_a_problem(u: Any) -> bool:
    """What a question says besides itself is a problem of its own when the rules see one there, or the learned
    model is sure: "老年证在哪办？我妈80了" — the rest is context for the question, not a ticket."""
    return getattr(u, "source", "rules") == "rules" or (getattr(u, "model", None) or {}).get("request", 0) >= 0.8


class _Complaint:
    def __init__(self, about: Any) -> None:
        self.about = about


def _complaint_check(ctx: Context) -> _Complaint | None:
    """A resident's complaint about a member (监督评议)."""
    if not _addressed_resident(ctx):
        return None
    u = understand(ctx.text)
    if u.urgency == tickets.URGENT:
        return None
    community_id = ctx.speaker.community_id
    grid_id = _chat_grid(ctx)
    if community_id is None and grid_id is not None:
        grid = ctx.session.get(Grid, grid_id)
        community_id = grid.community_id if grid else None
    about = complaints.about_whom(ctx.session, _book(ctx), ctx.text, community_id, grid_id,
                                  getattr(u.location, "building", None))
    return _Complaint(about) if about is not None else None


def _complaint_run(ctx: Context, match: _Complaint) -> list[Reply]:
    u = understand(ctx.text)
    request = _request(ctx, u, category="other")
    grid_id = request.grid_id
    if grid_id is None:
        grid_id = next((g.grid_id for g in match.about.grid_links), None)
        request = _request(ctx, u, category="other", grid_id=grid_id)
    people, to = complaints.deciders(ctx.session, match.about, grid_id or 0)
    try:
        tk = tickets.report_complaint(ctx.session, _policy(ctx), request, match.about, ctx.now, people, to)
    except TicketError as err:
        return [Reply(err.text)]
    text = t("tickets.complaint.ack", number=tk.number, to=t(f"tickets.complaint.to_{to}"))
    morning = reporters_hold(tk, ctx.now)     # the deciders' notice waits out quiet hours: say so (issue 18, point 3)
    if morning is not None:
        text += t("tickets.complaint.ack_quiet", to=t(f"tickets.complaint.to_{to}"),
                  morning=f"{morning.astimezone(_policy(ctx).tz):%H:%M}")
    return [Reply(text, mentions=[ctx.speaker.user_id] if ctx.inbound.is_group else [])]


# -- pictures (the AI bot's image and mixed messages): kept as the ticket's evidence, never shown in a group --------
def _attach_pictures(ctx: Context, ticket: Ticket) -> tuple[int, int]:
    """This message's pictures, and those the person sent just before it in this chat, go with the ticket.
    Returns (kept, lost): the resident hears "已收到照片", or that a picture must be sent again."""
    inbound = ctx.inbound
    rows = evidence.of_inbound(ctx.session, inbound.inbound_id) if inbound.inbound_id else []
    rows += evidence.loose_before(ctx.session, inbound.sender_id, inbound.chat_id if inbound.is_group else None,
                                  ctx.now)
    rows = list({r.id: r for r in rows if r.ticket_id is None}.values())
    stored = evidence.attach(ctx.session, ticket, rows, _actor(ctx), ctx.now)
    return stored, len(rows) - stored


def _actor(ctx: Context) -> str:
    return f"{'member' if ctx.speaker.is_member else 'resident'}:{ctx.speaker.user_id}"


def _photo_check(ctx: Context) -> list[Any] | None:
    """A message of pictures only (no words): its evidence rows, to join the person's report of a moment ago."""
    inbound = ctx.inbound
    if inbound.kind != "image" or not inbound.event_data.get("images") or not inbound.inbound_id:
        return None
    return evidence.of_inbound(ctx.session, inbound.inbound_id)


def _photo_run(ctx: Context, rows: list[Any]) -> list[Reply]:
    inbound = ctx.inbound
    chat = inbound.chat_id if inbound.is_group else None
    ticket = evidence.recent_ticket(ctx.session, ctx.speaker.user_id, chat, ctx.now)
    stored = sum(1 for r in rows if r.status == "stored")
    if ticket is None:      # kept loose: a report within the next minutes takes it along
        return [Reply(t("tickets.evidence.kept" if stored else "tickets.evidence.lost"))]
    stored = evidence.attach(ctx.session, ticket, rows, _actor(ctx), ctx.now)
    if not stored:
        return [Reply(t("tickets.evidence.lost"))]
    return [Reply(t("tickets.evidence.attached", n=stored, number=ticket.number))]


# -- member commands ---------------------------------------------------------------------------------------
@_safe
def accept_command(ctx: Context, args: str) -> list[Reply]:
    ref, *_ = _split(args)
    policy = _policy(ctx)
    tk = tickets.accept(ctx.session, policy, ctx.speaker, ref, ctx.now, ctx.inbound.platform)
    limit = policy.limits(tk.category, tk.urgency).resolution
    return _done(ctx, t("tickets.done.accepted_due", number=tk.number, due=_due(ctx, tk),
                        limit=_limit_text(policy, tk, limit), told=held_note(tk, ctx.now, policy.tz)))


def _limit_text(policy: Policy, ticket: Any, limit: Any) -> str:
    """"4 小时" (urgent, the wall clock) or "540 分钟工作时间" / "1 个工作日" (normal, working time)."""
    text = minutes_text(limit)
    if not policy.working(ticket.urgency):
        return text
    start, end = policy.cal.clock_start, policy.cal.clock_end
    day = timedelta(hours=end.hour - start.hour, minutes=end.minute - start.minute)
    if day and limit % day == timedelta(0):
        return t("tickets.working_days", n=int(limit / day))
    return t("tickets.working_time", text=text)


def _resolved_text(ctx: Context, ticket: Any) -> str:
    """反馈/办结's confirmation: "居民已收到…" only when the reporters' message went now, else when it will."""
    told = held_note(ticket, ctx.now, _policy(ctx).tz)
    if told:
        return t("tickets.done.resolved_held", number=ticket.number, told=told)
    return t("tickets.done.resolved", number=ticket.number)


@_safe
def hold_command(ctx: Context, args: str) -> list[Reply]:
    """挂起 N 原因 [到日期]: the ticket waits on a third party; its clock stops."""
    parts = _split(args, 2)
    if len(parts) < 2:
        raise TicketError("reason_needed", command="挂起")
    policy = _policy(ctx)
    tk = tickets.hold.suspend(ctx.session, policy, ctx.speaker, parts[0], parts[1], ctx.now, ctx.inbound.platform)
    until = t("tickets.done.held_until", until=fmt_time(tk.held_until, policy.tz)) if tk.held_until else ""
    return _done(ctx, t("tickets.done.held", number=tk.number, reason=tk.hold_reason or "", until=until,
                        told=held_note(tk, ctx.now, policy.tz)))


@_safe
def resume_command(ctx: Context, args: str) -> list[Reply]:
    """恢复 N: the clock runs again, every due time moved on by the time held."""
    ref, *_ = _split(args)
    policy = _policy(ctx)
    tk = tickets.hold.resume(ctx.session, policy, ctx.speaker, ref, ctx.now, ctx.inbound.platform)
    minutes = next((ev.detail or {}).get("held_minutes", 0) for ev in reversed(tk.events) if ev.action == "resume")
    due = tk.response_due if tk.status == "reported" else tk.resolution_due
    late = due is not None and (due if due.tzinfo else due.replace(tzinfo=UTC)) <= ctx.now   # SQLite: naive
    return _done(ctx, t("tickets.done.resumed_late" if late else "tickets.done.resumed", number=tk.number,
                        held=minutes_text(timedelta(minutes=minutes)),
                        due=fmt_time(due, policy.tz), told=held_note(tk, ctx.now, policy.tz)))


@_safe
def reject_command(ctx: Context, args: str) -> list[Reply]:
    parts = _split(args, 2)
    if len(parts) < 2:
        raise TicketError("reason_needed", command="不予立案")
    tk = tickets.reject(ctx.session, ctx.speaker, parts[0], parts[1], ctx.now, ctx.inbound.platform)
    told = held_note(tk, ctx.now, _policy(ctx).tz)    # "已告知居民" only when it went now
    return _done(ctx, t("tickets.done.rejected_held", number=tk.number, told=told) if told
                 else t("tickets.done.rejected", number=tk.number))


@_safe
def not_request_command(ctx: Context, args: str) -> list[Reply]:
    """不是工单 N [说明]: the bot misread a message as a request; the ticket is withdrawn and becomes a correction
    `gridbot understanding train` learns from."""
    parts = _split(args, 2)
    if not parts:
        raise UsageError()
    tk = tickets.not_a_request(ctx.session, ctx.speaker, parts[0], parts[1] if len(parts) > 1 else "", ctx.now,
                               ctx.inbound.platform)
    return _done(ctx, t("tickets.done.not_request", number=tk.number,
                        told=held_note(tk, ctx.now, _policy(ctx).tz)))


@_safe
def duplicate_command(ctx: Context, args: str) -> list[Reply]:
    parts = _split(args, 2)
    if len(parts) < 2:
        raise UsageError()
    into = _split(parts[1])[0]
    tk, target = tickets.mark_duplicate(ctx.session, ctx.speaker, parts[0], into, ctx.now, ctx.inbound.platform)
    told = held_note(tk, ctx.now, _policy(ctx).tz)
    return _done(ctx, t("tickets.done.duplicate_held", number=tk.number, into=target.number, told=told) if told
                 else t("tickets.done.duplicate", number=tk.number, into=target.number))


@_safe
def dispatch_command(ctx: Context, args: str) -> list[Reply]:
    parts = _split(args, 2)
    if len(parts) < 2:
        raise UsageError()
    who = _split(parts[1])[0]
    tk = tickets.dispatch(ctx.session, _policy(ctx), ctx.speaker, parts[0], who, ctx.now, ctx.inbound.platform)
    return _done(ctx, t("tickets.done.dispatched", number=tk.number, name=_assignee_name(tk), due=_due(ctx, tk)))


@_safe
def start_command(ctx: Context, args: str) -> list[Reply]:
    ref, *_ = _split(args)
    tk = tickets.start(ctx.session, _policy(ctx), ctx.speaker, ref, ctx.now, ctx.inbound.platform)
    return _done(ctx, t("tickets.done.started", number=tk.number, due=_due(ctx, tk)))


@_safe
def resolve_command(ctx: Context, args: str) -> list[Reply]:
    parts = _split(args, 2)
    if len(parts) < 2:
        raise TicketError("reason_needed", command="办结")
    tk = tickets.resolve(ctx.session, _policy(ctx), ctx.speaker, parts[0], parts[1], ctx.now, ctx.inbound.platform)
    return _done(ctx, _resolved_text(ctx, tk))


def feedback_command(ctx: Context, args: str) -> list[Reply]:
    """反馈: for a member it is 办结; a resident who starts with "反馈" is making a request."""
    if ctx.speaker.is_member:
        return resolve_command(ctx, args)
    u = _request_check(ctx)
    if u is None:
        return [Reply(t("fallback.resident"))]
    return _request_run(ctx, u)


@_safe
def verify_command(ctx: Context, args: str) -> list[Reply]:
    parts = _split(args, 2)
    note = parts[1] if len(parts) > 1 else ""
    tk = tickets.verify(ctx.session, _policy(ctx), ctx.speaker, parts[0], note, ctx.now, ctx.inbound.platform)
    key = "tickets.done.verified" if tk.status == "verified" else "tickets.done.verify_failed"
    return _done(ctx, t(key, number=tk.number))


@_safe
def close_command(ctx: Context, args: str) -> list[Reply]:
    ref, *_ = _split(args)
    tk = tickets.close(ctx.session, ctx.speaker, ref, ctx.now, ctx.inbound.platform)
    return _done(ctx, t("tickets.done.closed", number=tk.number))


@_safe
def transfer_command(ctx: Context, args: str) -> list[Reply]:
    parts = _split(args, 2)
    if len(parts) < 2:
        raise UsageError()
    who, *rest = _split(parts[1], 2)          # "@孙网格员，属于第二网格" -> who, note (its punctuation kept)
    note = rest[0] if rest else ""
    tk = tickets.transfer(ctx.session, _policy(ctx), ctx.speaker, parts[0], who, note.strip(), ctx.now,
                          ctx.inbound.platform)
    return _done(ctx, t("tickets.done.transferred", number=tk.number, name=_assignee_name(tk)))


@_safe
def escalate_command(ctx: Context, args: str) -> list[Reply]:
    parts = _split(args, 2)
    note = parts[1] if len(parts) > 1 else ""
    tk, level = tickets.escalate(ctx.session, _policy(ctx), ctx.speaker, parts[0], note, ctx.now,
                                 ctx.inbound.platform)
    return _done(ctx, t("tickets.done.escalated", number=tk.number, level=t(f"tickets.ladder.{tickets.LADDER[level]}")))


@_safe
def reopen_command(ctx: Context, args: str) -> list[Reply]:
    parts = _split(args, 2)
    note = parts[1] if len(parts) > 1 else ""
    tk = tickets.reopen(ctx.session, _policy(ctx), ctx.speaker, parts[0], note, ctx.now, ctx.inbound.platform)
    return _done(ctx, t("tickets.done.reopened", number=tk.number))


@_safe
def show_command(ctx: Context, args: str) -> list[Reply]:
    ref, *_ = _split(args)
    return [Reply(detail_text(ctx, ref, private=not ctx.inbound.is_group))]


@_safe
def todo_command(ctx: Context, args: str) -> list[Reply]:
    """The list names flats (1栋1单元101): in a group it goes privately, the group hears only that it was sent."""
    assigned = tickets.assigned_to(ctx.session, ctx.speaker.member_id) if ctx.speaker.member_id else []
    text = todo_text(ctx, assigned)
    if ctx.inbound.is_group and assigned:
        return [Reply(text, to_user=ctx.speaker.user_id), Reply(t("tickets.todo.sent_privately"))]
    return [Reply(text)]


@_safe
def member_report_command(ctx: Context, args: str) -> list[Reply]:
    """上报: a member reports what they saw on patrol; it becomes a ticket assigned by the normal rules."""
    if not args.strip():
        raise UsageError()
    inbound = ctx.inbound
    u = understand(args)
    grids = sorted(ctx.speaker.grid_ids) or sorted(ctx.speaker.scope_grid_ids)
    grid_id = ctx.speaker.chat_grid_id if inbound.is_group and ctx.speaker.chat_grid_id else \
        (grids[0] if grids else None)
    if grid_id is None:
        raise TicketError("member_no_grid")
    request = _request(ctx, u, name=ctx.speaker.name or inbound.sender_name, grid_id=grid_id,
                       text=tickets.as_written(inbound.text, args), category=u.category or "other",
                       household_ids=frozenset(), actor=ctx.speaker.actor)
    result = tickets.report(ctx.session, _policy(ctx), request, ctx.now)
    tk = result.ticket
    place = building = building_text(tk)
    if not inbound.is_group:
        place = tk.place or building
    text = t(f"tickets.member_report.{result.outcome}", number=tk.number, category=category_name(tk.category),
             place=place, reporters=tk.reporters,
             assignee=tk.assignee.name if tk.assignee else t("tickets.nobody"))
    return [Reply(text, urgent=tk.urgency == tickets.URGENT)]


def mine_command(ctx: Context, args: str) -> list[Reply]:
    return [Reply(my_tickets_text(ctx))]


def register(router: Router) -> None:
    for name, handler, aliases in (
        ("受理", accept_command, ("立案",)),
        ("不予立案", reject_command, ()),
        ("不是工单", not_request_command, ("非工单",)),
        ("重复", duplicate_command, ()),
        ("派遣", dispatch_command, ()),
        ("处置", start_command, ()),
        ("办结", resolve_command, ()),
        ("核查", verify_command, ()),
        ("结案", close_command, ()),
        ("转派", transfer_command, ()),
        ("升级", escalate_command, ()),
        ("挂起", hold_command, ("暂停",)),
        ("恢复", resume_command, ()),
        ("重开", reopen_command, ()),
        ("工单", show_command, ()),
        ("待办", todo_command, ()),
        ("上报", member_report_command, ()),
    ):
        router.command(Command(name, handler, roles=STAFF, aliases=aliases, group="tickets"))
    # 反馈 is 办结 for members, but residents say "反馈：3栋灯坏了" too: everyone may use it.
    router.command(Command("反馈", feedback_command, roles=EVERYONE, group="tickets"))
    router.command(Command("我的工单", mine_command, roles=EVERYONE, group="tickets"))
    router.rule("ticket_rating", _rating_check, _rating_run)
    router.rule("ticket_photo", _photo_check, _photo_run)
    router.rule("resident_complaint", _complaint_check, _complaint_run)
    router.rule("resident_answer", _answer_check, _answer_run)
    router.rule("resident_request", _request_check, _request_run)
