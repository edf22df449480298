"""Media: the AI bot's pictures, fetched and decrypted while their urls live, before the message is routed.

WeCom's AI bot gives an image (1:1) or the images of a mixed message (1:1 and groups) as a `url` to an encrypted
file (doc 100719, 接收消息 › 结构体说明 › 图片). The file is encrypted like the callback body (doc 101033): AES-256-CBC,
key = base64decode(EncodingAESKey + "="), IV = the key's first 16 bytes, PKCS#7 padding (to a multiple of 32, as
the callback crypto pads; 1..32 is accepted). The url is valid five minutes from the message (doc 100719).

Why here, in the processing job, and not a job queued at intake: processing is the first step that runs after the
callback is durable, normally within a second, and it is idempotent (a picture already recorded is skipped on a
retry). A dedicated job queued by the web process would survive a processing backlog longer than five minutes, but
it costs the webhook's hot path a Redis trip per picture message; a backlog that long already means replies are
minutes late. When it happens the evidence row says so: "url expired" with the message's age.

A picture that cannot be kept (HTTP 4xx/5xx, a time-out, over MAX_BYTES, not an image after decryption) is
recorded `failed` with the reason and logged once; it never fails the message. Network I/O runs outside any
transaction.
"""
from __future__ import annotations

import base64
import logging
from datetime import datetime

import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..app import Gridbot
from ..archive.port import ARCHIVE_REF, ArchiveUnavailable
from ..models import InboundMessage, TicketEvidence
from ..services import evidence

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024       # a picture larger than this (decrypted) is refused
URL_LIFETIME_SECONDS = 300         # doc 100719: the image url is valid five minutes
_CHUNK = 64 * 1024


class MediaError(Exception):
    """A picture that could not be kept; the message is an operator-readable reason (no url: it is a credential).
    `retry`: a time-out, a lost connection or a 5xx, worth one more try while the url lives."""

    def __init__(self, reason: str, retry: bool = False):
        super().__init__(reason)
        self.retry = retry


def decrypt(data: bytes, aes_key43: str) -> bytes:
    """AES-256-CBC with the bot's EncodingAESKey, IV = key[:16], PKCS#7 (block 32) removed (docs 100719, 101033)."""
    key = base64.b64decode(aes_key43 + "=")
    if not data or len(data) % 16:
        raise MediaError(f"encrypted file of {len(data)} bytes is not a whole number of AES blocks")
    plain = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    out = plain.update(data) + plain.finalize()
    pad = out[-1]
    if not 1 <= pad <= 32 or out[-pad:] != bytes([pad]) * pad:
        raise MediaError("bad padding after decryption: wrong GRIDBOT_AIBOT_AES_KEY, or not an AI bot file")
    return out[:-pad]


def download(url: str, timeout: float, limit: int = MAX_BYTES + 32) -> bytes:
    """GET the encrypted file, at most `limit` bytes, within `timeout` seconds per connect/read."""
    try:
        with requests.get(url, stream=True, timeout=timeout, allow_redirects=False) as resp:
            if resp.status_code != 200:
                raise MediaError(f"HTTP {resp.status_code} from the image url", retry=resp.status_code >= 500)
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise MediaError(f"file of {int(length)} bytes, over the {MAX_BYTES // (1024 * 1024)} MB limit")
            body = bytearray()
            for chunk in resp.iter_content(_CHUNK):
                body += chunk
                if len(body) > limit:
                    raise MediaError(f"file over the {MAX_BYTES // (1024 * 1024)} MB limit")
            return bytes(body)
    except requests.RequestException as exc:
        raise MediaError(f"download failed ({type(exc).__name__})", retry=True) from None


def fetch(url: str, aes_key43: str, timeout: float) -> tuple[bytes, str, str]:
    """(picture, mime, extension) behind an AI bot image url; MediaError with the reason otherwise."""
    data = decrypt(download(url, timeout), aes_key43)
    if len(data) > MAX_BYTES:
        raise MediaError(f"picture of {len(data)} bytes, over the {MAX_BYTES // (1024 * 1024)} MB limit")
    kind = evidence.sniff_image(data)
    if kind is None:
        raise MediaError("decrypted file is not a PNG, JPEG, GIF or WebP picture")
    return data, kind[0], kind[1]


def picture_urls(payload: dict | None) -> list[str]:
    """The image urls the adapter kept in a stored message's payload (event_data["images"]), then the chat
    archive's voice messages (event_data["voices"]): "archive:<sdkfileid>" is fetched with the archive's media call."""
    data = (payload or {}).get("event_data") or {}
    urls = [*(data.get("images") or []), *(data.get("voices") or [])]
    return [u for u in urls if isinstance(u, str)]


AMR = (b"#!AMR\n", "audio/amr", "amr")   # the archive's voice messages (doc 91774 "语音": amr)


def fetch_archived(app: Gridbot, ref: str) -> tuple[bytes, str, str]:
    """(file, mime, extension) of a picture or voice message from the chat archive; MediaError otherwise."""
    if app.archive is None:
        raise MediaError(f"chat archive not read here ({app.archive_problem or 'GRIDBOT_ARCHIVE_SOURCE=off'})")
    try:
        data = app.archive.media(ref[len(ARCHIVE_REF):])
    except ArchiveUnavailable as exc:
        raise MediaError(str(exc), retry=True) from None
    if len(data) > MAX_BYTES:
        raise MediaError(f"file of {len(data)} bytes, over the {MAX_BYTES // (1024 * 1024)} MB limit")
    if data.startswith(AMR[0]):
        return data, AMR[1], AMR[2]
    kind = evidence.sniff_image(data)
    if kind is None:
        raise MediaError("archived file is not a PNG, JPEG, GIF, WebP picture or an AMR voice message")
    return data, kind[0], kind[1]


def fetch_evidence(app: Gridbot, inbound_id: int) -> int:
    """Keep the pictures of one stored message (those not yet recorded); returns how many rows were written.

    Reads the row's payload (one query by primary key), downloads outside any transaction, then records each
    picture in its own short transaction. process() calls it only for a message that has pictures.
    """
    with app.session() as session:
        found = session.execute(select(InboundMessage.payload, InboundMessage.received_at, InboundMessage.status)
                                .where(InboundMessage.id == inbound_id)).first()
        if found is None or found.status == "done":
            return 0
        payload = found.payload or {}
        urls = picture_urls(payload)
        if not urls:
            return 0
        done = evidence.positions_done(session, inbound_id)
    key = app.settings.wecom.aibot_aes_key
    written = 0
    for position, url in enumerate(urls):
        if position in done:
            continue
        try:
            if url.startswith(ARCHIVE_REF):
                data, mime, ext = fetch_archived(app, url)
            elif not key:
                raise MediaError("GRIDBOT_AIBOT_AES_KEY is not set: the AI bot's pictures cannot be decrypted")
            else:
                data, mime, ext = _fetch_twice(url, key, app, found.received_at)
        except MediaError as err:
            reason = _with_age(str(err), found.received_at, app.clock.now())
            log.warning("inbound %s: picture %d not kept: %s", inbound_id, position + 1, reason)
            written += _record(app, inbound_id, position, payload, error=reason)
            continue
        written += _record(app, inbound_id, position, payload, data=data, mime=mime, ext=ext)
    return written


def _fetch_twice(url: str, key: str, app: Gridbot, received_at: datetime) -> tuple[bytes, str, str]:
    """fetch(), tried once more after a time-out, a lost connection or a 5xx while the url is still valid."""
    try:
        return fetch(url, key, app.settings.wecom.api_timeout)
    except MediaError as err:
        if not err.retry or (app.clock.now() - received_at).total_seconds() > URL_LIFETIME_SECONDS:
            raise
        log.info("picture download failed (%s), trying once more", err)
        return fetch(url, key, app.settings.wecom.api_timeout)


def _with_age(reason: str, received_at: datetime, now: datetime) -> str:
    age = int((now - received_at).total_seconds())
    if age > URL_LIFETIME_SECONDS:
        return f"{reason}; url expired: fetched {age} s after the message arrived (valid {URL_LIFETIME_SECONDS} s)"
    return reason


def _record(app: Gridbot, inbound_id: int, position: int, payload: dict, *, error: str | None = None,
            data: bytes | None = None, mime: str | None = None, ext: str | None = None) -> int:
    now = app.clock.now()
    chat_id = payload.get("chat_id") if payload.get("chat_type") == "group" else None
    source = "archive" if payload.get("platform") == "wecom_archive" else "aibot"
    row = TicketEvidence(inbound_id=inbound_id, position=position, source=source, status="failed",
                         added_by=str(payload.get("sender_id") or ""), chat_id=chat_id, created_at=now)
    try:
        with app.session() as session, session.begin():
            if position in evidence.positions_done(session, inbound_id):   # another worker was quicker
                return 0
            if data is not None and ext is not None:
                try:
                    row.path, row.sha256 = evidence.keep_file(session, app.settings.instance_dir, data, ext, now)
                    row.status, row.mime, row.size = "stored", mime, len(data)
                except OSError as exc:   # a full disk or a read-only instance dir: the message goes on
                    error = f"picture not written under {app.settings.instance_dir}: {exc.strerror or exc}"
                    log.error("inbound %s: %s", inbound_id, error)
            if row.status != "stored":
                row.status, row.error = "failed", (error or "")[:2000]
            session.add(row)
    except IntegrityError:   # the same picture recorded by a concurrent retry of this message
        return 0
    return 1
