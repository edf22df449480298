"""Tenancy as one rule: what part of the installation a person may read or change.

One community can never touch another's. Every console page, API endpoint, chat command and import that reads or
writes community data asks a Scope: `scope.grids(query)` narrows a query on grids, `scope.require_grid(id)` refuses
one grid outside it, `scope.outbox(query)` narrows outbox rows by the community they belong to. A county operator
(and the server's CLI) holds `Scope.everything()`; a secretary holds their community; a member their grids.
Roles are ranked (models.org.ROLES, lowest first): nobody grants a role above their own highest one.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, or_, select, true

from ..errors import Refusal
from ..models import Grid, GridChat, InboundMessage, Member, OutboxMessage
from ..models.org import ROLE_OPERATOR, ROLES


class ScopeRefusal(Refusal):
    """Something outside the person's scope was asked for (pages answer 403/404, the chat says no)."""


def role_rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


@dataclass(frozen=True)
class Scope:
    community_ids: frozenset[int] = frozenset()
    grid_ids: frozenset[int] = frozenset()
    is_operator: bool = False              # every community: a county operator, or the CLI on the server
    roles: frozenset[str] = frozenset()    # the roles the person holds: the ceiling of what they may grant

    @classmethod
    def everything(cls) -> Scope:
        """The county operator and the server CLI: all communities, any role."""
        return cls(is_operator=True, roles=frozenset({ROLE_OPERATOR}))

    @classmethod
    def of(cls, person: Any) -> Scope:
        """A console Principal or a chat Speaker (both carry is_operator?, community_id, scope_grid_ids, roles)."""
        if getattr(person, "is_operator", False):
            return cls.everything()
        community = getattr(person, "community_id", None)
        return cls(community_ids=frozenset({community}) if community is not None else frozenset(),
                   grid_ids=frozenset(getattr(person, "scope_grid_ids", frozenset())),
                   roles=frozenset(getattr(person, "roles", frozenset())))

    @classmethod
    def casework(cls, person: Any) -> Scope:
        """Where a person does case work: their grids (own, the subtree they lead, or the whole community for a
        secretary), never every community: an operator configures, and has no case work."""
        community = getattr(person, "community_id", None)
        return cls(community_ids=frozenset({community}) if community is not None else frozenset(),
                   grid_ids=frozenset(getattr(person, "scope_grid_ids", frozenset())),
                   roles=frozenset(getattr(person, "roles", frozenset())))

    # -- communities and grids ------------------------------------------------------------------------
    def has_community(self, community_id: int | None) -> bool:
        return self.is_operator or (community_id is not None and community_id in self.community_ids)

    def has_grid(self, grid_id: int | None) -> bool:
        return self.is_operator or (grid_id is not None and grid_id in self.grid_ids)

    def require_grid(self, grid_id: int | None) -> None:
        if not self.has_grid(grid_id):
            raise ScopeRefusal("scope.outside")

    def require_community(self, community_id: int | None) -> None:
        if not self.has_community(community_id):
            raise ScopeRefusal("scope.outside")

    def in_grids(self, column: Any) -> Any:
        """A where-clause: `column` (a grid id column: Household.grid_id, Ticket.grid_id...) is in scope."""
        if self.is_operator:
            return true()
        return column.in_(sorted(self.grid_ids)) if self.grid_ids else false()

    def grids(self, query: Any) -> Any:
        """A query over Grid narrowed to the grids in scope."""
        return query.where(self.in_grids(Grid.id))

    def communities(self, column: Any) -> Any:
        """A where-clause: `column` (a community id column) is in scope."""
        if self.is_operator:
            return true()
        return column.in_(sorted(self.community_ids)) if self.community_ids else false()

    # -- roles ------------------------------------------------------------------------------------------
    @property
    def top_rank(self) -> int:
        return max((role_rank(r) for r in self.roles), default=-1)

    def may_grant(self, roles: Iterable[str]) -> bool:
        """True when no role in `roles` ranks above the person's own highest role."""
        return self.is_operator or all(role_rank(r) <= self.top_rank for r in roles)

    # -- outbox rows ------------------------------------------------------------------------------------
    def outbox(self, query: Any) -> Any:
        """Outbox rows of the communities in scope. A row belongs to the community of its target chat's grid, or
        its target user's member record; failing both, of its inbound message's chat. A row that cannot be
        attributed at all is an operator's only."""
        if self.is_operator:
            return query
        return query.where(outbox_in_communities(self.community_ids))


def _chats_of(community_ids: Any) -> Any:
    q = select(GridChat.chat_id).join(Grid, Grid.id == GridChat.grid_id)
    return q.where(Grid.community_id.in_(community_ids)) if community_ids is not None else q


def _users_of(community_ids: Any) -> Any:
    q = select(Member.userid)
    return q.where(Member.community_id.in_(community_ids)) if community_ids is not None else q


def outbox_in_communities(community_ids: Iterable[int]) -> Any:
    ids = sorted(community_ids)
    if not ids:
        return false()
    target_known = or_(and_(OutboxMessage.target_type == "chat", OutboxMessage.target.in_(_chats_of(None))),
                       and_(OutboxMessage.target_type == "user", OutboxMessage.target.in_(_users_of(None))))
    target_ours = or_(and_(OutboxMessage.target_type == "chat", OutboxMessage.target.in_(_chats_of(ids))),
                      and_(OutboxMessage.target_type == "user", OutboxMessage.target.in_(_users_of(ids))))
    inbound_ours = OutboxMessage.inbound_id.in_(select(InboundMessage.id)
                                                .where(InboundMessage.chat_id.in_(_chats_of(ids))))
    return or_(target_ours, and_(~target_known, inbound_ours))
