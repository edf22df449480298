"""监督评议: a resident's complaint about a grid member ("你们网格员态度太差，叫了三次都不来") is a ticket of kind
"complaint" that goes past that member: to the grid leader, or to the secretary when it is about a grid leader.
It stays hidden from the member it is about (queries.hidden_from, assignment.ladder_targets) until a leader decides
(派遣/转派 to someone, 办结, 结案 or 不予立案: actions._decide). The words are in config/answers.yaml `complaints:`.
"""
from __future__ import annotations

import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Member
from ..models.org import LEADER_ROLES
from .answers import AnswerBook
from .tickets.assignment import community_role, grid_leaders, responsible_members


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").replace(" ", "")


def about_whom(session: Session, book: AnswerBook, text: str, community_id: int | None, grid_id: int | None,
               building: str | None) -> Member | None:
    """The member a complaint is about, or None when the message is not a complaint about a member: it must
    name a member (full name, or surname + a role word: "赵网格员") or a role ("网格员", "网格长") and say what
    is wrong (a complaint word)."""
    plain = _norm(text)
    if community_id is None or not any(_norm(w) in plain for w in book.complaint_words):
        return None
    members = list(session.scalars(select(Member).where(Member.community_id == community_id,
                                                        Member.active.is_(True)).order_by(Member.id)))
    for m in members:
        if m.name and (m.name in plain or any(f"{m.name[0]}{word}" in plain for word in book.complaint_roles)):
            return m
    if grid_id is None:
        return None
    for word, role in sorted(book.complaint_roles.items(), key=lambda kv: -len(kv[0])):
        if word not in plain:
            continue
        if role == "grid_leader":
            found = grid_leaders(session, grid_id)
        else:
            found = [m for m in responsible_members(session, grid_id, building) if role in (m.roles or [])] \
                or responsible_members(session, grid_id, building)
        if found:
            return found[0]
    return None


def deciders(session: Session, about: Member, grid_id: int) -> tuple[list[Member], str]:
    """Who decides a complaint about this member: the grid leaders (never the member), or the secretary when it
    is about a leader (the chief grid leader when it is about the secretary). Returns (people, "leader"|"secretary")."""
    roles = set(about.roles or [])
    if not roles & LEADER_ROLES:
        leaders = [m for m in grid_leaders(session, grid_id) if m.id != about.id]
        if leaders:
            return leaders, "leader"
    people = [m for m in community_role(session, about.community_id, "secretary") if m.id != about.id]
    if not people:
        people = [m for m in community_role(session, about.community_id, "chief") if m.id != about.id]
    return people, "secretary"
