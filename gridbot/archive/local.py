"""The embedded archive: what the demo, the simulator, `gridbot say` and the tests use instead of WeCom's. Messages
are kept as WeCom keeps them (a random key sealed with the public key of a publickey_ver, the message encrypted
with that key) and read through the same port, so the puller, the keys and the rotation are the ones in production.
(DecryptData's own cipher is inside Tencent's library; here it is AES-256-CBC with the random key.)"""
from __future__ import annotations

import base64
import json
import os
import secrets
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from ..app import Gridbot
from ..models import LocalArchiveMessage
from ..router import AppParts
from .keys import PrivateKeys, seal
from .port import EXTERNAL_PREFIXES, ArchiveUnavailable, Record


def _cipher(key: str, iv: bytes) -> Cipher:
    return Cipher(algorithms.AES(key.encode()[:32].ljust(32, b"\0")), modes.CBC(iv))


def encrypt(random_key: str, text: str) -> str:
    iv = os.urandom(16)
    padder = sym_padding.PKCS7(128).padder()
    data = padder.update(text.encode()) + padder.finalize()
    enc = _cipher(random_key, iv).encryptor()
    return base64.b64encode(iv + enc.update(data) + enc.finalize()).decode()


class LocalArchive:
    name = "local"

    def __init__(self, engine: Engine, keys: PrivateKeys) -> None:
        self.engine = engine
        self.keys = keys

    def sealed(self, message: dict[str, Any], publickey_ver: int | None = None,
               media: bytes | None = None) -> dict[str, Any]:
        """The row of one message, encrypted as WeCom does: a fresh random key per message."""
        ver = publickey_ver if publickey_ver is not None else self.keys.versions[-1]
        random_key = secrets.token_hex(16)
        return dict(msgid=message["msgid"], publickey_ver=ver,
                    encrypt_random_key=seal(self.keys.public_key(ver), random_key),
                    encrypt_chat_msg=encrypt(random_key, json.dumps(message, ensure_ascii=False)), media=media)

    def put(self, message: dict[str, Any], *, publickey_ver: int | None = None, media: bytes | None = None) -> int:
        """Keep one message (its msgid is in it) as WeCom would; returns its seq."""
        with self.engine.begin() as conn:
            seq = conn.execute(insert(LocalArchiveMessage).values(**self.sealed(message, publickey_ver, media))
                               .returning(LocalArchiveMessage.seq)).scalar_one()
        return int(seq)

    def put_many(self, messages: list[dict[str, Any]]) -> None:
        """Many messages in one transaction, in order (tests and the benchmark fill a backlog this way)."""
        with self.engine.begin() as conn:
            conn.execute(insert(LocalArchiveMessage), [self.sealed(m) for m in messages])

    def fetch(self, seq: int, limit: int) -> list[Record]:
        t = LocalArchiveMessage
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.seq, t.msgid, t.publickey_ver, t.encrypt_random_key, t.encrypt_chat_msg)
                                .where(t.seq > seq).order_by(t.seq).limit(limit)).all()
        return [Record(seq=r.seq, msgid=r.msgid, publickey_ver=r.publickey_ver,
                       encrypt_random_key=r.encrypt_random_key, encrypt_chat_msg=r.encrypt_chat_msg) for r in rows]

    def decrypt(self, random_key: str, encrypt_chat_msg: str) -> str:
        raw = base64.b64decode(encrypt_chat_msg)
        dec = _cipher(random_key, raw[:16]).decryptor()
        data = dec.update(raw[16:]) + dec.finalize()
        unpadder = sym_padding.PKCS7(128).unpadder()
        try:
            return (unpadder.update(data) + unpadder.finalize()).decode()
        except (ValueError, UnicodeDecodeError):
            raise ArchiveUnavailable("DecryptData 失败：消息密钥不对") from None

    def media(self, sdkfileid: str) -> bytes:
        with self.engine.connect() as conn:
            data = conn.execute(select(LocalArchiveMessage.media)
                                .where(LocalArchiveMessage.msgid == sdkfileid)).scalar()
        if data is None:
            raise ArchiveUnavailable(f"GetMediaData 失败：没有文件 {sdkfileid}")
        return bytes(data)


def message(chat_id: str | None, sender_id: str, msgtype: str, body: dict[str, Any], *, action: str = "send",
            at_ms: int | None = None, msgid: str | None = None) -> dict[str, Any]:
    """An archived message as DecryptData returns it (doc 91774 "消息格式")."""
    msgid = msgid or uuid.uuid4().hex
    if sender_id.startswith(EXTERNAL_PREFIXES) and not msgid.endswith("_external"):
        msgid += "_external"
    return {"msgid": msgid, "action": action, "from": sender_id, "tolist": [], "roomid": chat_id or "",
            "msgtime": at_ms if at_ms is not None else int(time.time() * 1000), "msgtype": msgtype, msgtype: body}


def post(app: Gridbot, chat_id: str, sender_id: str, text: str, *, msgtype: str = "text",
         body: dict[str, Any] | None = None, media: bytes | None = None) -> str:
    """Put a message into the embedded archive (the simulator, `gridbot say`, the toolbar's simulated post) and
    queue a pull; returns its msgid."""
    archive = app.archive
    if not isinstance(archive, LocalArchive):
        raise ArchiveUnavailable("会话存档不是内置存档（GRIDBOT_ARCHIVE_SOURCE=local）：不能模拟群消息")
    if body is None:
        body = {"content": text} if msgtype == "text" else {}
    msg = message(chat_id, sender_id, msgtype, body, at_ms=int(app.clock.now().timestamp() * 1000))
    if media is not None:   # the file is found by its sdkfileid: here, the message's own msgid
        msg[msgtype] = {**body, "sdkfileid": msg["msgid"]}
    archive.put(msg, media=media)
    queue_pull(app)
    return str(msg["msgid"])


PULL_FLAG_SECONDS = 5


def queue_pull(app: AppParts) -> None:
    """A pull soon. With Redis, at most one queued per PULL_FLAG_SECONDS (WeCom's event comes at most every 15 s;
    the puller reads to the end, one at a time, so a pull more or less costs one empty fetch)."""
    if app.redis is not None:
        flag = f"{app.settings.redis_prefix}archive:pull-queued"
        if not app.redis.set(flag, b"1", nx=True, ex=PULL_FLAG_SECONDS):
            return
    app.queue.enqueue("gridbot.jobs.pull_archive", queue="inbound")
