"""Signed and encrypted callback payloads, produced as WeCom does, independently of gridbot's own code.

The algorithm is written out here (WeCom doc 90930) with the `cryptography` package, so a bug shared by
gridbot's decoder and an encoder of ours could not hide.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from urllib.parse import urlencode

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def wecom_encrypt(aes_key43: str, plaintext: str, receive_id: str) -> str:
    key = base64.b64decode(aes_key43 + "=")
    msg = plaintext.encode()
    raw = os.urandom(16) + struct.pack(">I", len(msg)) + msg + receive_id.encode()
    pad = 32 - len(raw) % 32
    raw += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode()


def wecom_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


@dataclass
class Signer:
    token: str
    aes_key: str
    receive_id: str

    def query(self, encrypt: str, timestamp: int, nonce: str | None = None, **extra: str) -> str:
        nonce = nonce or os.urandom(4).hex()
        params = {"msg_signature": wecom_signature(self.token, str(timestamp), nonce, encrypt),
                  "timestamp": str(timestamp), "nonce": nonce, **extra}
        return urlencode(params)

    def xml_post(self, inner_xml: str, timestamp: int, nonce: str | None = None,
                 receive_id: str | None = None) -> tuple[str, bytes]:
        """(query string, body) of an app callback POST."""
        encrypt = wecom_encrypt(self.aes_key, inner_xml, self.receive_id if receive_id is None else receive_id)
        body = (f"<xml><ToUserName><![CDATA[{self.receive_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]>"
                f"</Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>").encode()
        return self.query(encrypt, timestamp, nonce), body

    def json_post(self, message: dict, timestamp: int, nonce: str | None = None,
                  ascii: bool = False) -> tuple[str, bytes]:
        """(query string, body) of an AI-bot POST; ascii=True sends non-ASCII as JSON escapes (a lone surrogate can
        only travel that way)."""
        encrypt = wecom_encrypt(self.aes_key, json.dumps(message, ensure_ascii=ascii), self.receive_id)
        return self.query(encrypt, timestamp, nonce), json.dumps({"encrypt": encrypt}).encode()

    def url_check(self, echo_plain: str, timestamp: int) -> tuple[str, str]:
        echostr = wecom_encrypt(self.aes_key, echo_plain, self.receive_id)
        return self.query(echostr, timestamp, echostr=echostr), echo_plain


def text_xml(sender: str, content: str, msg_id: str, create_time: int, corp_id: str = "ww1436e0e65a779aee") -> str:
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>")


def chat_change_xml(chat_id: str, change_type: str, create_time: int, detail: str = "",
                    members: list[str] | None = None, corp_id: str = "ww1436e0e65a779aee") -> str:
    items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members or [])
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[{chat_id}]]></ChatId>"
            f"<ChangeType><![CDATA[{change_type}]]></ChangeType><UpdateDetail><![CDATA[{detail}]]></UpdateDetail>"
            f"<JoinScene>1</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>{len(members or [])}</MemChangeCnt>"
            f"{'<MemChangeList>' + items + '</MemChangeList>' if members else ''}</xml>")


def aibot_message(msgid: str, userid: str, text: str, chatid: str | None = None,
                  response_url: str = "https://example.invalid/response") -> dict:
    msg = {"msgid": msgid, "aibotid": "AIBOT", "chattype": "group" if chatid else "single",
           "from": {"userid": userid}, "response_url": response_url, "msgtype": "text",
           "text": {"content": text}}
    if chatid:
        msg["chatid"] = chatid
    return msg
