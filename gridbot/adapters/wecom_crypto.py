"""Callback verification and decryption for both WeCom routes, on top of wechatpy's crypto.

wechatpy compares signatures with `!=`, parses the outer XML before checking anything, and raises
InvalidCorpIdException (not an InvalidSignatureException) for a wrong receive id. This wrapper checks the
timestamp window and the signature first (in constant time), then lets wechatpy decrypt, and turns every
failure into a CallbackRejected with an HTTP status and an operator-readable reason (no message content in it).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

_MAX_OUTER_BRACKETS = 8   # the outer JSON body has one; base64 has none


class CallbackRejected(Exception):
    """A callback we refuse. `status` is the HTTP answer; `reason` a short English phrase for the log."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """msg_signature = sha1 of the four strings sorted and joined (WeCom doc 90930)."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


def parse_xml(text: str | bytes) -> dict:
    """xmltodict with entities refused (its default); malformed or entity-laden XML -> 400."""
    try:
        doc = xmltodict.parse(text)
    except (ExpatError, ValueError) as exc:
        raise CallbackRejected(400, f"malformed or entity-laden XML ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("xml"), dict):
        raise CallbackRejected(400, "XML without an <xml> root element")
    return doc["xml"]


@dataclass
class CallbackCrypto:
    """One callback route's crypto: token, EncodingAESKey and receive id (corp id, or "" for the AI bot)."""

    token: str
    aes_key: str
    receive_id: str
    max_skew: int = 300

    def __post_init__(self) -> None:
        self._wechat = WeChatCrypto(self.token, self.aes_key, self.receive_id)

    def check_time(self, timestamp: str, now: float) -> None:
        try:
            ts = int(timestamp)
        except (TypeError, ValueError):
            raise CallbackRejected(400, "timestamp is not a number") from None
        if abs(now - ts) > self.max_skew:
            raise CallbackRejected(403, f"stale timestamp ({int(now - ts)} s off, window {self.max_skew} s): "
                                        "check the server clock, or a replay")

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = signature(self.token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").encode()):
            raise CallbackRejected(403, "bad msg_signature: check the callback token (GRIDBOT_*_TOKEN)")

    def decrypt(self, encrypt: str) -> str:
        """Decrypt an already-verified `encrypt` field; a wrong receive id or garbage is refused."""
        try:
            return PrpCrypto(self._wechat.key).decrypt(encrypt, self.receive_id)
        except InvalidCorpIdException:
            raise CallbackRejected(403, "receive id (corp id) in the payload does not match "
                                        "GRIDBOT_WECOM_CORP_ID") from None
        except InvalidSignatureException:  # pragma: no cover - wechatpy raises it only from its own check
            raise CallbackRejected(403, "bad signature") from None
        except Exception as exc:  # noqa: BLE001 - bad base64, padding or length: never a 500
            raise CallbackRejected(400, f"cannot decrypt payload ({type(exc).__name__}): check "
                                        "the EncodingAESKey") from None

    def open(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str, now: float | None = None) -> str:
        """Window check (if `now` is given), constant-time verify, decrypt. Returns the plaintext."""
        if not encrypt or not isinstance(encrypt, str):
            raise CallbackRejected(400, "no Encrypt field")
        if now is not None:
            self.check_time(timestamp, now)
        self.verify(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def open_xml(self, body: bytes, msg_signature: str, timestamp: str, nonce: str,
                 now: float | None = None) -> str:
        outer = parse_xml(body)
        return self.open(msg_signature, timestamp, nonce, outer.get("Encrypt") or "", now)

    def open_json(self, body: bytes, msg_signature: str, timestamp: str, nonce: str,
                  now: float | None = None) -> str:
        # Unsigned until proven otherwise: look at its shape before parsing it. WeCom's body is one flat object,
        # {"encrypt": "<base64>"}; a deep `[[[[...` or `{"a":{"a":...` is refused without a parse (json.loads would
        # recurse to a RecursionError, a 500).
        if not body.lstrip().startswith(b"{") or body.count(b"{") + body.count(b"[") > _MAX_OUTER_BRACKETS:
            raise CallbackRejected(400, "JSON body is not a flat object")
        try:
            outer = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise CallbackRejected(400, "malformed JSON body") from None
        if not isinstance(outer, dict):
            raise CallbackRejected(400, "JSON body is not an object")
        return self.open(msg_signature, timestamp, nonce, outer.get("encrypt") or "", now)

    def encrypt_json(self, plaintext: str, nonce: str, timestamp: str) -> dict:
        """A JSON reply envelope (AI bot passive reply)."""
        encrypt = PrpCrypto(self._wechat.key).encrypt(plaintext, self.receive_id).decode()
        return {"encrypt": encrypt, "msgsignature": signature(self.token, timestamp, nonce, encrypt),
                "timestamp": timestamp, "nonce": nonce}


@dataclass(frozen=True)
class SignedQuery:
    """The signature, timestamp and nonce WeCom puts in a callback's query string."""

    msg_signature: str
    timestamp: str
    nonce: str


def signed_query(args: Mapping[str, str]) -> SignedQuery:
    sig, ts, nonce = args.get("msg_signature", ""), args.get("timestamp", ""), args.get("nonce", "")
    if not (sig and ts and nonce):
        raise CallbackRejected(400, "missing msg_signature, timestamp or nonce in the query string")
    return SignedQuery(sig, ts, nonce)


def url_check(crypto: CallbackCrypto, query: SignedQuery, args: Mapping[str, str], now: float) -> str:
    """WeCom's URL verification (GET): the decrypted echostr, to be answered as the bare body."""
    echostr = args.get("echostr", "").replace(" ", "+")  # an unencoded '+' arrives as a space
    if not echostr:
        raise CallbackRejected(400, "URL check without echostr")
    return crypto.open(query.msg_signature, query.timestamp, query.nonce, echostr, now)
