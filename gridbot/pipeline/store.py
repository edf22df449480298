"""The inbound row and its one INSERT: every way a message is stored (the intake's batches, one callback, the console)
writes it with insert_sql(), so the dedupe rule is written once.

`INSERT .. ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key`, as a plain driver statement: no ORM unit
of work, no separate BEGIN/COMMIT (it runs in autocommit), and cheap to build (the intake sends thousands a second).
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..messages import Inbound
from ..models import InboundMessage


def dedupe_key(inbound: Inbound) -> str:
    """MsgId / msgid when the platform gives one; events by their own keys, else by sender + time + event name."""
    if inbound.kind == "event":
        key = _event_key(inbound)
        if key:
            return key
    if inbound.msg_id:
        return f"{inbound.platform}:msg:{inbound.msg_id}"
    at = int(inbound.at.timestamp()) if inbound.at else 0
    return f"{inbound.platform}:evt:{inbound.sender_id}:{at}:{inbound.event or inbound.kind}"


# Why a stored message is not processed. 'received' rows are processed (then 'done' or 'failed'); these are not:
UNBOUND = "unbound"         # a group message from a chat bound to no grid (the chat is recorded: UnknownChat)
SKIPPED = "skipped"         # a message type or event the bot does not handle
UNREADABLE = "unreadable"   # signed, but not a message we can read or store as parsed: kept raw (escaped)
NOT_PROCESSED = frozenset({UNBOUND, SKIPPED, UNREADABLE})

# PostgreSQL's text and json refuse NUL, and UTF-8 cannot carry a lone surrogate (json.loads makes one of "\ud800").
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Column widths of inbound_messages (models/messaging.py): a longer value fails the INSERT on PostgreSQL.
_WIDTHS = {"platform": 32, "dedupe_key": 255, "chat_id": 128, "sender_id": 128, "kind": 32}


def _event_key(inbound: Inbound) -> str | None:
    """change_external_chat: ChatId + CurMemVer where present (WECOM.md "Timing and retries"), so a redelivery with
    another CreateTime is the same event; the change's name is kept in the key (it does not weaken the dedupe of a
    retry, and two changes at one version, if WeCom ever sends them, stay two)."""
    data = inbound.event_data or {}
    if inbound.event == "change_external_chat" and data.get("ChatId") and data.get("CurMemVer"):
        change = data.get("UpdateDetail") or data.get("ChangeType") or ""
        return f"{inbound.platform}:evt:change_external_chat:{data['ChatId']}:{data['CurMemVer']}:{change}"
    if inbound.event == "kf_msg_or_event" and data.get("Token"):
        # 微信客服 (doc 94670): each notification has its own Token; a redelivery carries the same one
        digest = hashlib.sha256(str(data["Token"]).encode()).hexdigest()[:32]
        return f"{inbound.platform}:evt:kf_msg_or_event:{str(data.get('OpenKfId') or '')[:64]}:{digest}"
    return None


def row_values(inbound: Inbound, raw: str | None, now: datetime, status: str = "received",
               error: str | None = None) -> dict[str, Any]:
    """The inbound_messages row for a message just received (what every store path inserts). A row the database
    would refuse (NUL, a lone surrogate, an id too long for its column) is stored escaped and 'unreadable'."""
    if inbound.at is None:
        inbound.at = now
    values = dict(platform=inbound.platform, dedupe_key=dedupe_key(inbound), chat_id=inbound.chat_id,
                  sender_id=inbound.sender_id, kind=inbound.kind, payload=payload(inbound), raw=raw,
                  received_at=now, status=status, attempts=0, error=error)
    problem = unstorable(values)
    return quarantine(values, problem) if problem else values


def unstorable(values: dict[str, Any]) -> str | None:
    """What in a row the database would refuse, in words for the row's error; None if it can be stored."""
    raw = values.get("raw")
    # The parsed payload holds nothing the raw text does not: clean raw text without JSON \\u escapes (the only way
    # a NUL or a lone surrogate gets into a parsed string) spares walking the payload (3 µs a message, not 10).
    walk = not isinstance(raw, str) or "\\u" in raw
    for name in ("dedupe_key", "chat_id", "sender_id", "kind", "raw", "payload", "platform"):
        if (walk or name != "payload") and _has_unstorable(values.get(name)):
            return f"NUL or lone surrogate in {name}"
    for name, width in _WIDTHS.items():
        if len(values.get(name) or "") > width:
            return f"{name} longer than {width} characters"
    return None


def storable(text: str | None) -> bool:
    """False if the database would refuse this text (NUL, a lone surrogate): do not even query with it."""
    return text is None or _UNSTORABLE.search(text) is None


def _has_unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_unstorable(k) or _has_unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_unstorable(v) for v in value)
    return False


def escape(text: str) -> str:
    """NUL and lone surrogates as JSON-style escapes (\\u0000, \\ud800): storable, and readable by a person."""
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def quarantine(values: dict[str, Any], reason: str) -> dict[str, Any]:
    """The row as it can be stored whatever it holds: every string escaped, ids cut to their columns (the dedupe key
    hashed when too long, so a redelivery still finds it), the parsed payload dropped (the raw text stays, escaped),
    marked 'unreadable' with the reason. Never processed."""
    out = dict(values)
    for name in ("platform", "dedupe_key", "chat_id", "sender_id", "kind"):
        if isinstance(out.get(name), str):
            out[name] = escape(out[name])
    key = out["dedupe_key"]
    if len(key) > _WIDTHS["dedupe_key"]:
        out["dedupe_key"] = f"{out['platform'][:32]}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    for name in ("platform", "chat_id", "sender_id", "kind"):
        if isinstance(out.get(name), str):
            out[name] = out[name][:_WIDTHS[name]]
    if isinstance(out.get("raw"), str):
        out["raw"] = escape(out["raw"])
    out["payload"] = {}
    out["status"] = UNREADABLE
    out["error"] = escape(reason)[:2000]
    return out


_FIELDS = tuple(f.name for f in fields(Inbound))


def payload(inbound: Inbound) -> dict[str, Any]:
    """Inbound.to_dict() without dataclasses.asdict's deep copies (a tenth of the webhook's CPU); same result."""
    data = {name: getattr(inbound, name) for name in _FIELDS}
    data["at"] = inbound.at.isoformat() if inbound.at else None
    if inbound.location is not None:
        loc = inbound.location
        data["location"] = {"latitude": loc.latitude, "longitude": loc.longitude, "label": loc.label,
                            "precision": loc.precision}
    data["event_data"] = dict(inbound.event_data)
    return data


COLUMNS = ("platform", "dedupe_key", "chat_id", "sender_id", "kind", "payload", "raw", "received_at", "status",
           "attempts", "error")


@functools.lru_cache(maxsize=128)
def insert_sql(rows: int, dialect: str = "postgresql") -> str:
    """The inbound INSERT for `rows` rows of insert_params() each, in the driver's parameter style."""
    mark = "?" if dialect == "sqlite" else "%s"
    row = "(" + ", ".join(f"{mark}::json" if c == "payload" and dialect != "sqlite" else mark for c in COLUMNS) + ")"
    return (f"INSERT INTO inbound_messages ({', '.join(COLUMNS)}) VALUES {', '.join([row] * rows)} "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key")


def insert_params(values: dict[str, Any], dialect: str = "postgresql") -> tuple[Any, ...]:
    """row_values() as the positional parameters of insert_sql (the payload as JSON text; on SQLite the time as
    the naive UTC text SQLAlchemy writes there, so the ORM reads these rows like its own)."""
    params = [json.dumps(values[c], ensure_ascii=False) if c == "payload" else values.get(c) for c in COLUMNS]
    if dialect == "sqlite":
        at: datetime = values["received_at"]
        params[COLUMNS.index("received_at")] = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return tuple(params)


def store(engine: Engine, values: dict[str, Any]) -> tuple[int, bool]:
    """Persist one row under its dedupe key. Returns (id, created); a repeat returns the first id."""
    dialect = engine.dialect.name
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        new_id = conn.exec_driver_sql(insert_sql(1, dialect), insert_params(values, dialect)).scalar()
        if new_id is not None:
            return new_id, True
        existing = conn.execute(select(InboundMessage.id)
                                .where(InboundMessage.dedupe_key == values["dedupe_key"])).scalar()
    if existing is None:  # pragma: no cover - the conflicting row vanished in between
        raise IntegrityError("inbound dedupe", None, Exception(values["dedupe_key"]))
    return existing, False
