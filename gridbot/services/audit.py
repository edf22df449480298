"""The audit trail. Services call record() inside their own transaction, so the change and its record land together."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..models import AuditLog
from ..privacy import mask_text


def record(session: Session, actor: str, action: str, entity_type: str | None = None,
           entity_id: Any = None, detail: dict[str, Any] | None = None, at: datetime | None = None) -> AuditLog:
    clean = {k: (mask_text(v) if isinstance(v, str) else v) for k, v in (detail or {}).items()}
    entry = AuditLog(actor=actor, action=action, entity_type=entity_type,
                     entity_id=None if entity_id is None else str(entity_id), detail=clean)
    if at is not None:
        entry.at = at
    session.add(entry)
    return entry
