"""`gridbot wecom check`: what can be checked of a WeCom deployment from inside, with what to fix.

Each check is a Finding (route, item, status ok / fail / skip, a Chinese line for the operator that names the
errcode and the setting to change). What cannot be seen from inside (ICP filing of the callback domain, trusted IPs,
客户联系 "可调用应用") is the MANUAL checklist, printed every time; deploy/README.md carries the same list.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import asdict, dataclass

import requests

from ..config import WeComSettings
from ..texts import t
from .client import calling_ip

OK, FAIL, SKIP = "ok", "fail", "skip"
# gettoken errcodes and the setting each one points at (WeCom global error codes; WECOM.md "Sending")
TOKEN_FIXES = {40001: "secret", 40013: "corp_id", 40091: "secret", 60020: "ip", 41002: "corp_id", 41004: "secret"}
MANUAL = ("icp", "reachable", "trusted_ip", "customer_contact_app", "archive_secret")


@dataclass
class Finding:
    route: str      # app | app_callback | aibot | robots | chats | toolbar
    item: str
    status: str     # ok | fail | skip
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def aes_key_problem(key: str) -> str | None:
    """Why an EncodingAESKey is unusable, or None: 43 characters that base64-decode (with "=") to 32 bytes."""
    if len(key) != 43:
        return t("wecom_check.aes_length", length=len(key))
    try:
        raw = base64.b64decode(key + "=", validate=True)
    except (binascii.Error, ValueError):
        return t("wecom_check.aes_base64")
    if len(raw) != 32:
        return t("wecom_check.aes_bytes", size=len(raw))
    return None


def token_problem(token: str) -> str | None:
    """The callback Token WeCom's admin page accepts: English letters and digits, at most 32."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,32}", token):
        return t("wecom_check.token_shape")
    return None


def check_gettoken(wc: WeComSettings, http: requests.Session | None = None) -> tuple[Finding, str | None]:
    """A fresh gettoken with the settings given (never the cached token: the point is to test the secret); the
    finding and the token when there is one."""
    if not (wc.corp_id and wc.secret):
        return Finding("app", "gettoken", FAIL if (wc.corp_id or wc.secret or wc.agent_id) else SKIP,
                       t("wecom_check.api_missing")), None
    try:
        resp = (http or requests.Session()).get(f"{wc.api_base}/cgi-bin/gettoken",
                                                params={"corpid": wc.corp_id, "corpsecret": wc.secret},
                                                timeout=wc.api_timeout)
        data = resp.json()
    except (requests.RequestException, ValueError) as exc:
        return Finding("app", "gettoken", FAIL, t("wecom_check.unreachable", base=wc.api_base,
                                                  error=type(exc).__name__)), None
    if int(data.get("errcode") or 0) == 0 and data.get("access_token"):
        return Finding("app", "gettoken", OK, t("wecom_check.token_ok")), str(data["access_token"])
    return _refused("gettoken", data), None


def check_api_call(wc: WeComSettings, token: str, http: requests.Session | None = None) -> Finding:
    """One read-only API call with the token (get_api_domain_ip, doc 92520): gettoken is not held to the trusted
    IPs, API calls are, so this is where 60020 shows."""
    try:
        resp = (http or requests.Session()).get(f"{wc.api_base}/cgi-bin/get_api_domain_ip",
                                                params={"access_token": token}, timeout=wc.api_timeout)
        data = resp.json()
    except (requests.RequestException, ValueError) as exc:
        return Finding("app", "api", FAIL, t("wecom_check.unreachable", base=wc.api_base, error=type(exc).__name__))
    if int(data.get("errcode") or 0) == 0:
        return Finding("app", "api", OK, t("wecom_check.api_ok"))
    return _refused("api", data)


def check_toolbar(wc: WeComSettings, token: str, page_url: str, http: requests.Session | None = None) -> Finding:
    """The chat toolbar page's JS-SDK ticket (ticket/get?type=agent_config, doc 90506): without it the page cannot
    sign wx.agentConfig, and members cannot post prepared replies into customer groups with one tap."""
    try:
        resp = (http or requests.Session()).get(f"{wc.api_base}/cgi-bin/ticket/get",
                                                params={"access_token": token, "type": "agent_config"},
                                                timeout=wc.api_timeout)
        data = resp.json()
    except (requests.RequestException, ValueError) as exc:
        return Finding("toolbar", "agent_ticket", FAIL,
                       t("wecom_check.unreachable", base=wc.api_base, error=type(exc).__name__))
    if int(data.get("errcode") or 0) == 0 and data.get("ticket"):
        return Finding("toolbar", "agent_ticket", OK, t("wecom_check.toolbar_ok", url=page_url))
    refused = _refused("agent_ticket", data)
    return Finding("toolbar", "agent_ticket", FAIL, refused.message)


def _refused(item: str, data: dict) -> Finding:
    """A WeCom refusal as what to fix: the setting an errcode points at, or the IP to add for 60020."""
    code = int(data.get("errcode") or 0)
    errmsg = str(data.get("errmsg") or "")[:200]
    fix = TOKEN_FIXES.get(code)
    if fix == "ip":
        return Finding("app", item, FAIL, t("wecom_check.fix_ip", errcode=code,
                                            ip=calling_ip(errmsg) or t("wecom_check.ip_unknown")))
    if fix:
        return Finding("app", item, FAIL, t(f"wecom_check.fix_{fix}", errcode=code, errmsg=errmsg))
    return Finding("app", item, FAIL, t("wecom_check.fix_other", errcode=code, errmsg=errmsg))


def check_settings(wc: WeComSettings) -> list[Finding]:
    """Each route's settings: present together, and of the shape WeCom gives them."""
    out: list[Finding] = []
    if wc.api_enabled:
        if not wc.agent_id:
            out.append(Finding("app", "agent_id", FAIL, t("wecom_check.agent_missing")))
        elif not wc.agent_id.isdigit():
            out.append(Finding("app", "agent_id", FAIL, t("wecom_check.agent_shape", value=wc.agent_id)))
        else:
            out.append(Finding("app", "agent_id", OK, t("wecom_check.agent_ok", value=wc.agent_id)))
    for route, token, key, token_name, key_name, needs_corp in (
            ("app_callback", wc.token, wc.aes_key, "GRIDBOT_WECOM_TOKEN", "GRIDBOT_WECOM_AES_KEY", True),
            ("aibot", wc.aibot_token, wc.aibot_aes_key, "GRIDBOT_AIBOT_TOKEN", "GRIDBOT_AIBOT_AES_KEY", False)):
        if not (token or key):
            out.append(Finding(route, "callback", SKIP, t(f"wecom_check.{route}_off")))
            continue
        problems = []
        if not token:
            problems.append(t("wecom_check.missing", name=token_name))
        elif token_problem(token):
            problems.append(f"{token_name}: {token_problem(token)}")
        if not key:
            problems.append(t("wecom_check.missing", name=key_name))
        elif aes_key_problem(key):
            problems.append(f"{key_name}: {aes_key_problem(key)}")
        if needs_corp and not wc.corp_id:
            problems.append(t("wecom_check.missing", name="GRIDBOT_WECOM_CORP_ID"))
        out.append(Finding(route, "callback", FAIL if problems else OK,
                           "；".join(problems) if problems else t(f"wecom_check.{route}_ok")))
    return out


def check_archive(source: str, problem: str | None, versions: list[int], lag_seconds: float | None) -> Finding:
    """The chat archive (customer groups' messages): off, not loading (and why: the SDK missing on this OS or CPU, a
    key file), or read, with how far behind it is (WeCom keeps messages five days)."""
    if source == "off":
        return Finding("archive", "sdk", SKIP, t("wecom_check.archive_off"))
    if problem:
        return Finding("archive", "sdk", FAIL, t("wecom_check.archive_broken", problem=problem))
    if lag_seconds is not None and lag_seconds > ALARM_LAG_SECONDS:
        return Finding("archive", "lag", FAIL, t("wecom_check.archive_lag", hours=int(lag_seconds // 3600)))
    return Finding("archive", "sdk", OK, t(f"wecom_check.archive_{source}_ok",
                                            versions="、".join(str(v) for v in versions)))


ALARM_LAG_SECONDS = 24 * 3600   # the console's alarm: WeCom keeps the archive five days
