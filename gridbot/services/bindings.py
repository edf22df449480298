"""Household bindings (一户一代表): who speaks for which household, and how that changes.

Policy, one person one household: a person has at most one active binding and at most one pending request.
Confirming or directly binding a person to a household ends their previous active binding (end_reason
"replaced"); a new registration supersedes their older pending one (status "ended", end_reason "superseded").
A household may have several active representatives. Nothing is ever deleted: rows are ended, and every change
is written to the audit log with who made it.

A representative is a chat identity, never a phone number: two households sharing one phone are still two
households, each needing its own representative.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, overload

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Refusal
from ..models import ChatIdentity, ChatMembership, Grid, Household, HouseholdBinding, Member, MemberGrid
from ..models.org import LEADER_ROLES
from ..places import place_text
from ..texts import t
from ..understanding import parse_address as shared_parse_address
from .audit import record

PENDING_OVERDUE = timedelta(days=3)


class BindingError(Refusal):
    """A rule refused the change. `key` names a text under coverage.errors in templates.yaml."""

    def __init__(self, key: str, **values: Any):
        super().__init__(f"coverage.errors.{key}", **values)


@dataclass
class AddressParts:
    building: str
    unit: str | None
    room: str | None


def parse_address(text: str) -> AddressParts | None:
    """The shared parser (gridbot.understanding.parse_address); None unless it finds at least a building."""
    found = shared_parse_address(text)
    if found is None or not found.building:
        return None
    return AddressParts(found.building, found.unit or None, found.room or None)


def identity_platform(platform: str) -> str:
    """WeCom's app and AI-bot callbacks are one person space: identities are stored as "wecom" (membership)."""
    return "wecom" if platform.startswith("wecom") else platform


def address_text(building: str, unit: str | None, room: str | None) -> str:
    return place_text(building, unit, room)


# -- identities -------------------------------------------------------------------------------------
@overload
def find_identity(session: Session, platform: str, user_id: str, display_name: str | None = None,
                  create: Literal[True] = True) -> ChatIdentity: ...
@overload
def find_identity(session: Session, platform: str, user_id: str, display_name: str | None = None,
                  create: bool = True) -> ChatIdentity | None: ...
def find_identity(session: Session, platform: str, user_id: str, display_name: str | None = None,
                  create: bool = True) -> ChatIdentity | None:
    """The person's chat identity. Looked up by user_id (preferring this platform), as resolve_speaker does."""
    platform = identity_platform(platform)
    rows = list(session.scalars(select(ChatIdentity).where(ChatIdentity.user_id == user_id)
                                .order_by(ChatIdentity.id)))
    identity = next((r for r in rows if r.platform == platform), rows[0] if rows else None)
    if identity is None and create:
        identity = ChatIdentity(platform=platform, user_id=user_id, display_name=display_name)
        session.add(identity)
        session.flush()
    elif identity is not None and display_name and not identity.display_name:
        identity.display_name = display_name
    return identity


def find_person(session: Session, token: str, chat_id: str | None = None) -> ChatIdentity:
    """A person named in a command ("@张三" or a userid): by userid first, then by display name.

    Display names are not unique; when several people share one, those in this chat group win, and if
    that still leaves several the command is refused rather than guessed.
    """
    token = token.strip().lstrip("@").strip()
    if not token:
        raise BindingError("person_missing")
    by_id = session.scalars(select(ChatIdentity).where(ChatIdentity.user_id == token)).first()
    if by_id is not None:
        return by_id
    named = list(session.scalars(select(ChatIdentity).where(ChatIdentity.display_name == token)))
    if len(named) > 1 and chat_id:
        in_chat = set(session.scalars(select(ChatMembership.identity_id).where(
            ChatMembership.chat_id == chat_id, ChatMembership.left_at.is_(None),
            ChatMembership.identity_id.in_([n.id for n in named]))))
        named = [n for n in named if n.id in in_chat] or named
    if not named:
        raise BindingError("person_unknown", person=token)
    if len(named) > 1:
        raise BindingError("person_ambiguous", person=token)
    return named[0]


# -- households -------------------------------------------------------------------------------------
def find_household(session: Session, address: AddressParts, grid_ids: Iterable[int] | None = None,
                   prefer_grid_id: int | None = None) -> Household:
    """The one active household at this address. Several matches (a unit left out, or the same address
    entered in two grids by mistake) are narrowed to the preferred grid (the chat's), else refused."""
    if not address.room:
        raise BindingError("room_missing", address=address_text(address.building, address.unit, None))
    query = select(Household).where(Household.status == "active", Household.building == address.building,
                                    Household.room == address.room)
    if address.unit:
        query = query.where(Household.unit == address.unit)
    if grid_ids is not None:
        query = query.where(Household.grid_id.in_(list(grid_ids)))
    found = list(session.scalars(query.order_by(Household.id)))
    if len(found) > 1 and prefer_grid_id is not None:
        found = [h for h in found if h.grid_id == prefer_grid_id] or found
    text = address_text(address.building, address.unit, address.room)
    if not found:
        if grid_ids is not None:  # it exists in another grid: say so, not "check the number"
            anywhere = select(Household.id).where(Household.status == "active",
                                                  Household.building == address.building,
                                                  Household.room == address.room)
            if address.unit:
                anywhere = anywhere.where(Household.unit == address.unit)
            if session.scalar(anywhere.limit(1)) is not None:
                raise BindingError("household_out_of_scope", address=text)
        raise BindingError("no_household", address=text)
    if len(found) > 1:
        raise BindingError("ambiguous_household", address=text)
    return found[0]


def grid_member_userids(session: Session, grid_id: int) -> list[str]:
    """Who should hear about a registration: the grid's own members; its leaders only if it has no one else."""
    rows = session.execute(select(Member.userid, Member.roles).join(MemberGrid).where(
        MemberGrid.grid_id == grid_id, Member.active.is_(True), Member.on_duty.is_(True))  # 在岗=否: nothing
        .order_by(Member.id)).all()
    workers = [uid for uid, roles in rows if not set(roles or []) & LEADER_ROLES]
    return workers or [uid for uid, _ in rows]


# -- changes ----------------------------------------------------------------------------------------
@dataclass
class Change:
    """What a binding change did, for the handler to tell people about."""

    binding: HouseholdBinding
    household: Household
    identity: ChatIdentity
    grid_code: str = ""
    ended: list[HouseholdBinding] = field(default_factory=list)   # bindings this change ended or replaced
    notify: list[str] = field(default_factory=list)               # userids to tell privately
    already: bool = False                                          # nothing changed (a repeat)
    was: str = ""                                                  # the binding's status before this change
    current: Household | None = None                               # 登记: the household they represent now

    @property
    def address(self) -> str:
        return self.household.address


def _end(session: Session, binding: HouseholdBinding, actor: str, reason: str, now: datetime) -> None:
    binding.status = "ended"
    binding.ended_at = now
    binding.end_reason = reason
    record(session, actor, "binding.end", "household_binding", binding.id,
           {"household_id": binding.household_id, "identity_id": binding.identity_id, "reason": reason}, at=now)


def _open_bindings(session: Session, identity_id: int, statuses: tuple[str, ...]) -> list[HouseholdBinding]:
    return list(session.scalars(select(HouseholdBinding).where(
        HouseholdBinding.identity_id == identity_id, HouseholdBinding.status.in_(statuses))
        .order_by(HouseholdBinding.id)))


def _grid_code(session: Session, grid_id: int) -> str:
    return session.scalar(select(Grid.code).where(Grid.id == grid_id)) or ""


def register(session: Session, *, platform: str, user_id: str, address: AddressParts, now: datetime,
             display_name: str | None = None, chat_grid_id: int | None = None) -> Change:
    """登记: a resident asks to represent a household. Pending until a member of that grid decides."""
    identity = find_identity(session, platform, user_id, display_name)
    household = find_household(session, address, prefer_grid_id=chat_grid_id)
    actor = f"resident:{user_id}"
    mine = _open_bindings(session, identity.id, ("pending", "active"))
    for b in mine:
        if b.household_id == household.id:
            if b.status == "active":
                raise BindingError("already_bound", address=household.address)
            return Change(b, household, identity, _grid_code(session, household.grid_id), already=True)
    ended = []
    for b in mine:
        if b.status == "pending":
            _end(session, b, actor, "superseded", now)
            ended.append(b)
    binding = HouseholdBinding(household_id=household.id, identity_id=identity.id, status="pending",
                               requested_at=now, requested_by=actor)
    session.add(binding)
    session.flush()
    record(session, actor, "binding.request", "household_binding", binding.id,
           {"household_id": household.id, "grid_id": household.grid_id}, at=now)
    current = next((b.household for b in mine if b.status == "active"), None)  # replaced once confirmed
    return Change(binding, household, identity, _grid_code(session, household.grid_id), ended=ended,
                  notify=grid_member_userids(session, household.grid_id), current=current)


def _activate(session: Session, binding: HouseholdBinding, actor: str, now: datetime) -> list[HouseholdBinding]:
    """Make `binding` active; the person's other active binding is replaced, other pending ones superseded."""
    ended = []
    for other in _open_bindings(session, binding.identity_id, ("pending", "active")):
        if other.id != binding.id:
            _end(session, other, actor, "replaced" if other.status == "active" else "superseded", now)
            ended.append(other)
    binding.status = "active"
    binding.decided_at = now
    binding.decided_by = actor
    return ended


def decide(session: Session, binding_id: int, *, approve: bool, actor: str, scope_grid_ids: Iterable[int],
           now: datetime, reason: str | None = None) -> Change:
    """确认 / 驳回: a member of the household's grid (or a leader above it) decides a pending registration."""
    binding = session.get(HouseholdBinding, binding_id)
    if binding is None:
        raise BindingError("binding_not_found", number=binding_id)
    household = binding.household
    if household.grid_id not in set(scope_grid_ids):
        raise BindingError("not_your_grid", number=binding_id)
    if binding.status != "pending":
        raise BindingError("not_pending", number=binding_id, status=t(f"coverage.status.{binding.status}"))
    ended: list[HouseholdBinding] = []
    if approve:
        if household.status != "active":
            raise BindingError("household_inactive", address=household.address)
        ended = _activate(session, binding, actor, now)
        record(session, actor, "binding.confirm", "household_binding", binding.id,
               {"household_id": household.id, "grid_id": household.grid_id}, at=now)
    else:
        binding.status = "rejected"
        binding.decided_at = now
        binding.decided_by = actor
        record(session, actor, "binding.reject", "household_binding", binding.id,
               {"household_id": household.id, "grid_id": household.grid_id, "reason": reason or ""}, at=now)
    return Change(binding, household, binding.identity, _grid_code(session, household.grid_id), ended=ended,
                  notify=[binding.identity.user_id])


def bind(session: Session, *, person: str, address: AddressParts, actor: str, scope_grid_ids: Iterable[int],
         now: datetime, chat_id: str | None = None, chat_grid_id: int | None = None) -> Change:
    """绑定 @某人 地址: a member binds a person directly (active at once), within the grids they may act in."""
    identity = find_person(session, person, chat_id)
    scope = set(scope_grid_ids)
    household = find_household(session, address, grid_ids=scope, prefer_grid_id=chat_grid_id)
    existing = [b for b in _open_bindings(session, identity.id, ("pending", "active"))
                if b.household_id == household.id]
    if existing and existing[0].status == "active":
        return Change(existing[0], household, identity, _grid_code(session, household.grid_id), already=True)
    if existing:
        binding = existing[0]
    else:
        binding = HouseholdBinding(household_id=household.id, identity_id=identity.id, status="pending",
                                   requested_at=now, requested_by=actor)
        session.add(binding)
        session.flush()
    ended = _activate(session, binding, actor, now)
    record(session, actor, "binding.bind", "household_binding", binding.id,
           {"household_id": household.id, "grid_id": household.grid_id, "identity_id": identity.id}, at=now)
    return Change(binding, household, identity, _grid_code(session, household.grid_id), ended=ended,
                  notify=[identity.user_id])


def unbind_self(session: Session, *, platform: str, user_id: str, now: datetime) -> list[Change]:
    """解绑 by a resident: their own active binding and pending request end."""
    identity = find_identity(session, platform, user_id, create=False)
    if identity is None:
        return []
    changes = []
    for b in _open_bindings(session, identity.id, ("pending", "active")):
        was = b.status
        _end(session, b, f"resident:{user_id}", "unbound", now)
        changes.append(Change(b, b.household, identity, was=was))
    return changes


def unbind(session: Session, *, actor: str, scope_grid_ids: Iterable[int], now: datetime,
           binding_id: int | None = None, person: str | None = None, chat_id: str | None = None) -> list[Change]:
    """解绑 by a member: one binding by number, or the person's bindings, in the grids they may act in."""
    scope = set(scope_grid_ids)
    if binding_id is not None:
        b = session.get(HouseholdBinding, binding_id)
        if b is None:
            raise BindingError("binding_not_found", number=binding_id)
        targets = [b]
    else:
        identity = find_person(session, person or "", chat_id)
        targets = _open_bindings(session, identity.id, ("pending", "active"))
        if not targets:
            raise BindingError("person_not_bound", person=identity.display_name or identity.user_id)
    changes = []
    for b in targets:
        if b.household.grid_id not in scope:
            raise BindingError("not_your_grid", number=b.id)
        if b.status not in ("pending", "active"):
            raise BindingError("not_open", number=b.id, status=t(f"coverage.status.{b.status}"))
        _end(session, b, actor, "unbound", now)
        changes.append(Change(b, b.household, b.identity, _grid_code(session, b.household.grid_id),
                              notify=[b.identity.user_id]))
    return changes


def move_out(session: Session, *, address: AddressParts, actor: str, scope_grid_ids: Iterable[int],
             now: datetime, chat_grid_id: int | None = None) -> tuple[Household, list[HouseholdBinding]]:
    """迁出: the household leaves; its bindings end and it no longer counts in coverage. Kept, not deleted."""
    household = find_household(session, address, grid_ids=set(scope_grid_ids), prefer_grid_id=chat_grid_id)
    ended = []
    for b in session.scalars(select(HouseholdBinding).where(
            HouseholdBinding.household_id == household.id,
            HouseholdBinding.status.in_(("pending", "active"))).order_by(HouseholdBinding.id)):
        _end(session, b, actor, "moved_out", now)
        ended.append(b)
    household.status = "moved_out"
    household.updated_by = actor
    household.updated_at = now
    record(session, actor, "household.move_out", "household", household.id,
           {"grid_id": household.grid_id, "bindings_ended": len(ended)}, at=now)
    return household, ended


# -- reading ----------------------------------------------------------------------------------------
@dataclass
class PendingRow:
    number: int
    grid_code: str
    address: str
    person: str
    requested_at: datetime
    overdue: bool


def pending(session: Session, grid_ids: Iterable[int], now: datetime) -> list[PendingRow]:
    """Registrations waiting for a decision in these grids, oldest first (one query)."""
    rows = session.execute(
        select(HouseholdBinding.id, Grid.code, Household.building, Household.unit, Household.room,
               ChatIdentity.display_name, ChatIdentity.user_id, HouseholdBinding.requested_at)
        .join(Household, Household.id == HouseholdBinding.household_id)
        .join(Grid, Grid.id == Household.grid_id)
        .join(ChatIdentity, ChatIdentity.id == HouseholdBinding.identity_id)
        .where(HouseholdBinding.status == "pending", Household.grid_id.in_(list(grid_ids)))
        .order_by(HouseholdBinding.requested_at, HouseholdBinding.id)
    ).all()
    return [PendingRow(r[0], r[1], address_text(r[2], r[3], r[4]), r[5] or r[6], r[7],
                       r[7] < now - PENDING_OVERDUE) for r in rows]


