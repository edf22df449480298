"""What the puller needs from an archive. WeCom's (sdk.py) and the embedded one (local.py) both speak it, with the
records the Finance SDK's GetChatData returns (doc 91774): {seq, msgid, publickey_ver, encrypt_random_key,
encrypt_chat_msg}."""
from __future__ import annotations

from typing import Protocol, TypedDict

MAX_FETCH = 1000   # GetChatData's limit (doc 91774)
ARCHIVE_REF = "archive:"   # a file of the archive in a message's event_data: its sdkfileid (pipeline/media.py)
EXTERNAL_PREFIXES = ("wm", "wo")   # external contacts' ids (doc 92114); msgids from them end in "_external"


class Record(TypedDict):
    seq: int
    msgid: str
    publickey_ver: int
    encrypt_random_key: str     # base64 of the message key, RSA-encrypted with the public key of publickey_ver
    encrypt_chat_msg: str       # the message, encrypted with that key (opened by decrypt)


class ArchiveUnavailable(Exception):
    """The archive cannot be read (the SDK did not load, WeCom refused): the text says why and what to change."""


class Archive(Protocol):
    name: str   # "sdk" | "local": the cursor's key

    def fetch(self, seq: int, limit: int) -> list[Record]:
        """The records after `seq`, at most `limit` (<= 1,000), oldest first."""

    def decrypt(self, random_key: str, encrypt_chat_msg: str) -> str:
        """The SDK's DecryptData: the message's JSON text, given its key opened with our private key."""

    def media(self, sdkfileid: str) -> bytes:
        """An image's or voice's bytes (GetMediaData, all chunks)."""
