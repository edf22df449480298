"""Evidence: the pictures a person sends with a report, kept with the ticket (shown in the console, never in a group).

The file is stored once under the instance dir, named by its SHA-256 (`evidence/<yyyy>/<mm>/<sha256>.<ext>`; the
same picture sent twice is one file); each picture of each message is one TicketEvidence row, `stored` or `failed`
with the reason. A message that becomes (or joins) a ticket brings its pictures along; a photo sent on its own
within ATTACH_WINDOW after the same person's report in the same chat joins that ticket, and photos sent just before
a report join the ticket it opens. Each attachment is a step of the ticket's timeline and its audit record.
"""
from __future__ import annotations

import hashlib
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Ticket, TicketEvidence, TicketReporter
from ..models.tickets import ACTIVE_STATUSES
from .tickets.lifecycle import event

EVIDENCE_DIR = "evidence"
ATTACH_WINDOW = timedelta(minutes=10)     # a photo this soon after a report (or before it) belongs to it

# Magic bytes of the pictures we keep: (prefix, mime, extension). Anything else is not an image to us.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png", "png"), (b"\xff\xd8\xff", "image/jpeg", "jpg"),
               (b"GIF87a", "image/gif", "gif"), (b"GIF89a", "image/gif", "gif"))
MIMES = {"image/png", "image/jpeg", "image/gif", "image/webp", "audio/amr"}   # audio/amr: the archive's voice


def sniff_image(data: bytes) -> tuple[str, str] | None:
    """(mime, extension) from the file's first bytes, or None when it is not a PNG, JPEG, GIF or WebP."""
    for prefix, mime, ext in _SIGNATURES:
        if data.startswith(prefix):
            return mime, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def keep_file(session: Session, instance_dir: Path, data: bytes, ext: str, now: datetime) -> tuple[str, str]:
    """Write the picture once (a known hash reuses its file); returns (path relative to instance_dir, sha256)."""
    digest = hashlib.sha256(data).hexdigest()
    known = session.scalar(select(TicketEvidence.path).where(TicketEvidence.sha256 == digest,
                                                             TicketEvidence.path.is_not(None)).limit(1))
    if known and (instance_dir / known).is_file():
        return known, digest
    rel = f"{EVIDENCE_DIR}/{now:%Y}/{now:%m}/{digest}.{ext}"
    path = instance_dir / rel
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.{os.getpid()}.{threading.get_ident()}.part")
        tmp.write_bytes(data)
        os.replace(tmp, path)      # atomic: a reader never sees half a picture
    return rel, digest


def positions_done(session: Session, inbound_id: int) -> set[int]:
    """The pictures of a message already recorded (stored or failed): a processing retry skips them."""
    return set(session.scalars(select(TicketEvidence.position).where(TicketEvidence.inbound_id == inbound_id)))


def of_inbound(session: Session, inbound_id: int) -> list[TicketEvidence]:
    return list(session.scalars(select(TicketEvidence).where(TicketEvidence.inbound_id == inbound_id)
                                .order_by(TicketEvidence.position)))


def of_ticket(session: Session, ticket_id: int) -> list[TicketEvidence]:
    """A ticket's pictures, oldest first (the failed ones too: the console says what could not be kept)."""
    return list(session.scalars(select(TicketEvidence).where(TicketEvidence.ticket_id == ticket_id)
                                .order_by(TicketEvidence.id)))


def loose_before(session: Session, user_id: str, chat_id: str | None, now: datetime) -> list[TicketEvidence]:
    """Pictures the person sent in this chat within ATTACH_WINDOW and that no ticket holds yet."""
    same_chat = TicketEvidence.chat_id.is_(None) if chat_id is None else TicketEvidence.chat_id == chat_id
    return list(session.scalars(select(TicketEvidence).where(
        TicketEvidence.ticket_id.is_(None), TicketEvidence.added_by == user_id, same_chat,
        TicketEvidence.created_at >= now - ATTACH_WINDOW).order_by(TicketEvidence.id)))


def recent_ticket(session: Session, user_id: str, chat_id: str | None, now: datetime) -> Ticket | None:
    """The ticket the person reported (or joined) in this chat within ATTACH_WINDOW, still being worked on."""
    same_chat = TicketReporter.chat_id.is_(None) if chat_id is None else TicketReporter.chat_id == chat_id
    return session.scalar(select(Ticket).join(TicketReporter, TicketReporter.ticket_id == Ticket.id).where(
        TicketReporter.user_id == user_id, same_chat, TicketReporter.joined_at >= now - ATTACH_WINDOW,
        Ticket.status.in_(ACTIVE_STATUSES)).order_by(TicketReporter.joined_at.desc(), Ticket.id.desc()).limit(1))


def attach(session: Session, ticket: Ticket, rows: list[TicketEvidence], actor: str, now: datetime) -> int:
    """Link the pictures to the ticket; one timeline step (with its audit record) names them. Returns how many
    were stored (a failed download is linked too, so the console can say a picture was lost)."""
    rows = [r for r in rows if r.ticket_id is None]
    if not rows:
        return 0
    for row in rows:
        row.ticket_id = ticket.id
    stored = [r for r in rows if r.status == "stored"]
    event(session, ticket, actor, "evidence", now,
          detail={"evidence": [r.id for r in rows], "stored": len(stored), "failed": len(rows) - len(stored)})
    return len(stored)
