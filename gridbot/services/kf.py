"""微信客服 (issue 17): a resident's kf session, the grid they came from, and WeCom's sending window, counted here.

Doc 94677 (kf/send_msg): the bot may send only within 48 hours after the resident's last message, and at most 5
messages per message of theirs. gridbot counts both on the KfSession row, under its row lock, before each send, so
it never asks WeCom for a send WeCom would refuse; a reply that does not fit waits ('held') and goes when the
resident writes again (release_held, in the transaction that stores their message).
Doc 95122 (kf/send_msg_on_event): the welcome uses the enter_session event's welcome_code, valid 20 seconds, once.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..messages import Inbound, Reply
from ..models import Grid, Member, MemberGrid, OutboxMessage, Ticket
from ..models.kf import KF_SILENT_STATES, KF_STATE_ENDED, KF_STATE_HUMAN, KfSession
from ..models.org import LEADER_ROLES
from ..texts import t
from . import outbox
from .audit import record
from .people import Speaker

PLATFORM = "wecom_kf"
WINDOW = timedelta(hours=48)       # doc 94677: sends allowed within 48 hours after the resident's last message
WINDOW_MARGIN = timedelta(minutes=5)   # the send reaches WeCom a moment after we decide, and the clocks differ
SENDS_PER_MESSAGE = 5              # doc 94677: at most 5 messages per message of the resident
WELCOME_TTL = timedelta(seconds=20)   # doc 95122: welcome_code valid 20 seconds, usable once
HELD = "held"                      # an outbox row waiting for the resident to write again
MAX_SCENE_BYTES = 32               # doc 94665 (kf/add_contact_way): scene <= 32 bytes, [0-9a-zA-Z_-]
LOCAL_KFID = "local"   # the embedded kf account of the simulator and `gridbot say --kf` (no WeCom configured)


def session_for(session: Session, open_kfid: str, external_userid: str, now: datetime,
                lock: bool = False) -> KfSession:
    """The resident's session on that kf account (created the first time)."""
    q = select(KfSession).where(KfSession.open_kfid == open_kfid, KfSession.external_userid == external_userid)
    row = session.scalar(q.with_for_update() if lock else q)
    if row is None:
        row = KfSession(open_kfid=open_kfid, external_userid=external_userid, created_at=now,
                        sends_since_customer_msg=0, service_state=0)
        session.add(row)
        session.flush()
    return row


def latest_session(session: Session, external_userid: str, lock: bool = False) -> KfSession | None:
    """The resident's most recently active kf session (a resident normally has one kf account: the county's)."""
    q = (select(KfSession).where(KfSession.external_userid == external_userid)
         .order_by(KfSession.last_customer_msg_at.desc().nulls_last(), KfSession.id.desc()).limit(1))
    return session.scalar(q.with_for_update() if lock else q)



def grid_by_scene(session: Session, scene: str | None) -> Grid | None:
    """The grid a link's scene names (kf-links uses the grid's code as scene)."""
    if not scene:
        return None
    return session.scalar(select(Grid).where(Grid.code == scene))


def entered(session: Session, open_kfid: str, external_userid: str, scene_param: str | None,
            welcome_code: str | None, at: datetime) -> KfSession:
    """enter_session: the resident opened the chat from a grid's link. The grid is the one they came from now."""
    row = session_for(session, open_kfid, external_userid, at, lock=True)
    grid = grid_by_scene(session, scene_param)
    if grid is not None:
        if row.grid_id != grid.id:
            record(session, f"resident:{external_userid}", "kf.grid", "kf_session", row.id,
                   {"grid_id": grid.id, "scene": scene_param}, at=at)
        row.grid_id, row.scene = grid.id, scene_param
    if welcome_code:
        row.welcome_code, row.welcome_code_at = welcome_code, at
    return row


def customer_wrote(session: Session, open_kfid: str, external_userid: str, at: datetime) -> tuple[KfSession, list[int]]:
    """A message of the resident: the window opens again (48 h from it, 5 sends), and the replies that waited for
    it are released. Returns the session and the outbox ids released (queue them after the commit)."""
    row = session_for(session, open_kfid, external_userid, at, lock=True)
    if row.last_customer_msg_at is None or at >= row.last_customer_msg_at:
        row.last_customer_msg_at = at
        row.sends_since_customer_msg = 0
    ids = list(session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.status == HELD, OutboxMessage.target_type == "user",
        OutboxMessage.target == external_userid).order_by(OutboxMessage.id)))
    if ids:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                        .values(status="pending", not_before=None, last_error=None))
    return row, ids


def state_changed(session: Session, open_kfid: str, external_userid: str, change_type: int | None,
                  servicer: str | None, at: datetime) -> KfSession:
    """session_status_change (doc 94670): 1 taken from the pool, 2 handed over, 4 picked up again -> a person
    answers; 3 ended -> the bot answers again."""
    row = session_for(session, open_kfid, external_userid, at, lock=True)
    if change_type == 3:
        row.service_state, row.servicer = KF_STATE_ENDED, None
    elif change_type in (1, 2, 4):
        row.service_state, row.servicer = KF_STATE_HUMAN, servicer or row.servicer
    record(session, "wecom:kf", "kf.state", "kf_session", row.id,
           {"change_type": change_type, "servicer": servicer}, at=at)
    return row


def is_silent(row: KfSession | None) -> bool:
    """A person has the session (or it waits for one): the bot says nothing in it."""
    return row is not None and row.service_state in KF_SILENT_STATES


@dataclass
class Slot:
    """What the sender may do for one row: send (counted), wait for the resident, or use the welcome code."""

    allowed: bool
    reason: str = ""
    welcome_code: str | None = None


def take_slot(row: KfSession, now: datetime, welcome: bool = False) -> Slot:
    """Count one send against the window (call under the session's row lock, commit before sending). A welcome
    whose code is still valid goes by send_msg_on_event and does not count; the code is used once."""
    if welcome:
        if row.welcome_code and row.welcome_code_at and now - row.welcome_code_at <= WELCOME_TTL:
            code, row.welcome_code = row.welcome_code, None
            return Slot(True, welcome_code=code)
        return Slot(False, "welcome_code expired (valid 20 s, doc 95122)")
    if row.service_state in KF_SILENT_STATES:
        return Slot(False, "a person has this 微信客服 session: the bot waits until it ends")
    if row.last_customer_msg_at is None or now - row.last_customer_msg_at > WINDOW - WINDOW_MARGIN:
        return Slot(False, "48 h since the resident's last message (doc 94677): waits until they write again")
    if row.sends_since_customer_msg >= SENDS_PER_MESSAGE:
        return Slot(False, "5 messages sent since the resident's last message (doc 94677): waits until they "
                           "write again")
    row.sends_since_customer_msg += 1
    return Slot(True)


def unrated_resolved(session: Session, external_userid: str) -> Ticket | None:
    """A ticket of this resident that is resolved and not yet rated: a held message about it matters."""
    return session.scalar(select(Ticket).where(Ticket.reporter_id == external_userid, Ticket.status == "resolved",
                                               Ticket.rating.is_(None)).order_by(Ticket.id.desc()).limit(1))


def tell_member_held(session: Session, row_id: int, external_userid: str, now: datetime) -> bool:
    """A held message that matters (a resolved ticket waits for its rating): its member hears that the resident
    cannot be reached in 微信客服 until they write again. Once per outbox row."""
    held = session.get(OutboxMessage, row_id)
    choices = ((held.content or {}).get("choices") or []) if held is not None else []
    if not any(str(cid).startswith("rate:") for cid, _words in choices):
        return False   # not the rating question: the member is not told that it waits (it may have been delivered)
    ticket = unrated_resolved(session, external_userid)
    if ticket is None or ticket.assignee_id is None:
        return False
    key = f"kf-held-{row_id}"
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is not None:
        return False
    member = session.get(Member, ticket.assignee_id)
    if member is None:
        return False
    outbox.write_replies(session, None, [Reply(t("kf.held_notice", number=ticket.number), to_user=member.userid,
                                               idempotency_key=key)], now, "wecom_app")
    return True


def person_for(session: Session, grid_id: int | None, complaint: bool) -> Member | None:
    """Who takes a session handed to a person: the grid leader for a complaint about the grid's member, otherwise
    the grid's member on duty (then any active member of the grid)."""
    if grid_id is None:
        return None
    members = list(session.scalars(select(Member).join(MemberGrid).where(
        MemberGrid.grid_id == grid_id, Member.active.is_(True)).order_by(Member.id)))
    if complaint:
        leaders = [m for m in members if set(m.roles or []) & LEADER_ROLES]
        if not leaders:
            grid = session.get(Grid, grid_id)
            parent = grid.parent_id if grid else None
            if parent is not None:
                leaders = [m for m in session.scalars(select(Member).join(MemberGrid).where(
                    MemberGrid.grid_id == parent, Member.active.is_(True)).order_by(Member.id))
                    if set(m.roles or []) & LEADER_ROLES]
        return leaders[0] if leaders else None
    on_duty = [m for m in members if m.on_duty and not set(m.roles or []) & LEADER_ROLES]
    pool = on_duty or members
    return pool[0] if pool else None


def handed_over(session: Session, row: KfSession, servicer: str, actor: str, now: datetime) -> None:
    row.service_state, row.servicer = KF_STATE_HUMAN, servicer
    record(session, actor, "kf.trans", "kf_session", row.id, {"servicer": servicer}, at=now)


def speaker_in_session(session: Session, inbound: Inbound, speaker: Speaker) -> tuple[Speaker, bool]:
    """A kf message's speaker with the grid of the link they came by (as a group's message has its group's), and
    whether the bot must stay silent (a person has the session). Their household, once bound, is noted."""
    open_kfid = str(inbound.event_data.get("open_kfid") or "")
    row = session.scalar(select(KfSession).where(KfSession.open_kfid == open_kfid,
                                                 KfSession.external_userid == inbound.sender_id))
    if row is None:
        return speaker, False
    if row.household_id is None and len(speaker.household_ids) == 1:
        row.household_id = next(iter(speaker.household_ids))
    if row.grid_id is not None and not speaker.is_member:
        grid = session.get(Grid, row.grid_id)
        if grid is not None:
            speaker = replace(speaker, chat_grid_id=grid.id, community_id=grid.community_id)
    return speaker, is_silent(row) and inbound.kind != "event"
