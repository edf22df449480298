"""Who is speaking: a resident, or a member with roles and grids. Scope rules live here, once."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..models import ChatIdentity, Grid, GridChat, HouseholdBinding, Member
from ..models.kf import KfSession
from ..models.org import LEADER_ROLES, ROLE_CHIEF, ROLE_OPERATOR, ROLE_SECRETARY
from ..models.work import Leave
from .scope import Scope


class NotAMember(RuntimeError):
    """Code that only members reach (a command behind the router's role check) met a resident: a bug, not a "no"."""


@dataclass(frozen=True)
class Speaker:
    platform: str
    user_id: str
    name: str | None = None
    member_id: int | None = None
    roles: frozenset[str] = frozenset()
    community_id: int | None = None
    grid_ids: frozenset[int] = frozenset()          # grids the member is directly responsible for
    scope_grid_ids: frozenset[int] = frozenset()    # grids the member may act in (own, subtree, community)
    chat_grid_id: int | None = None                 # the grid whose group the message came from
    household_ids: frozenset[int] = field(default_factory=frozenset)  # households this person represents

    @property
    def is_member(self) -> bool:
        return self.member_id is not None

    @property
    def is_resident(self) -> bool:
        return self.member_id is None

    @property
    def staff_member_id(self) -> int:
        """member_id, where only members get (the router's role check let them in)."""
        if self.member_id is None:
            raise NotAMember(self.actor)
        return self.member_id

    @property
    def staff_community_id(self) -> int:
        """The member's community, where only members get: a member always has one."""
        if self.member_id is None or self.community_id is None:
            raise NotAMember(self.actor)
        return self.community_id

    @property
    def is_leader(self) -> bool:
        return bool(self.roles & LEADER_ROLES)

    @property
    def actor(self) -> str:
        return f"{'member' if self.is_member else 'resident'}:{self.user_id}"

    def can_act_in(self, grid_id: int | None) -> bool:
        return Scope.casework(self).has_grid(grid_id)


def subtree_ids(session: Session, root_ids: set[int]) -> set[int]:
    """The given grids and every grid below them."""
    seen = set(root_ids)
    frontier = set(root_ids)
    while frontier:
        children = set(session.scalars(select(Grid.id).where(Grid.parent_id.in_(frontier))))
        frontier = children - seen
        seen |= frontier
    return seen


def member_scope(session: Session, member: Member) -> set[int]:
    own = {link.grid_id for link in member.grid_links}
    roles = set(member.roles or [])
    if roles & {ROLE_SECRETARY, ROLE_CHIEF, ROLE_OPERATOR}:
        return set(session.scalars(select(Grid.id).where(Grid.community_id == member.community_id)))
    if roles & LEADER_ROLES:
        return subtree_ids(session, own)
    return own


def find_member(session: Session, community_id: int | None, word: str) -> Member | None:
    """A member by userid or name ("@赵网格员", "赵网格员", "mem_zhao"); a unique name prefix ("赵") also works.
    The one lookup for 派遣/转派 (tickets) and 走访/请假 (work)."""
    word = word.strip().lstrip("@＠").strip()
    if not word:
        return None
    query = select(Member).where(Member.active.is_(True)).options(selectinload(Member.grid_links))
    if community_id is not None:
        query = query.where(Member.community_id == community_id)
    members = list(session.scalars(query.order_by(Member.id)))
    for m in members:
        if word in (m.userid, m.name):
            return m
    prefixed = [m for m in members if m.name.startswith(word)]
    return prefixed[0] if len(prefixed) == 1 else None


def on_leave(session: Session, member_id: int, now: datetime) -> Leave | None:
    """The member's current leave (请假), the newest if several overlap; None when at work."""
    return session.scalar(select(Leave).where(Leave.member_id == member_id, Leave.cancelled_at.is_(None),
                                              Leave.starts_at <= now, Leave.ends_at > now)
                          .order_by(Leave.id.desc()).limit(1))


def grid_for_chat(session: Session, chat_id: str | None) -> Grid | None:
    if not chat_id:
        return None
    return session.scalar(select(Grid).join(GridChat).where(GridChat.chat_id == chat_id))


def resolve_speaker(session: Session, platform: str, user_id: str, chat_id: str | None = None,
                    name: str | None = None) -> Speaker:
    chat_grid = grid_for_chat(session, chat_id)
    member = session.scalar(
        select(Member).where(Member.userid == user_id, Member.active.is_(True))
        .options(selectinload(Member.grid_links))
    )
    household_ids = frozenset(session.scalars(
        select(HouseholdBinding.household_id).join(ChatIdentity)
        .where(ChatIdentity.user_id == user_id, HouseholdBinding.status == "active")
    ))
    if member is None:
        return Speaker(platform=platform, user_id=user_id, name=name,
                       community_id=chat_grid.community_id if chat_grid else None,
                       chat_grid_id=chat_grid.id if chat_grid else None, household_ids=household_ids)
    return Speaker(
        platform=platform, user_id=user_id, name=member.name, member_id=member.id,
        roles=frozenset(member.roles or []), community_id=member.community_id,
        grid_ids=frozenset(link.grid_id for link in member.grid_links),
        scope_grid_ids=frozenset(member_scope(session, member)),
        chat_grid_id=chat_grid.id if chat_grid else None, household_ids=household_ids,
    )


def is_kf_resident(session: Session, user_id: str) -> bool:
    """A resident who has written to the 微信客服 account: private replies to them go there (issue 17)."""
    return session.scalar(select(KfSession.id).where(KfSession.external_userid == user_id).limit(1)) is not None
