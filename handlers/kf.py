"""微信客服 (issue 17): "转人工", or a complaint about the grid member, hands the session to a person.

Doc 94669 (kf/service_state/trans): service_state 3 with servicer_userid hands the session to that member; while a
person has it, gridbot stays silent in it (services/kf.py) until WeCom says the session ended (session_status_change
change_type 3, read by the sync). The handover's API call follows the reply that says so (senders/kf.py).
"""
from __future__ import annotations

import re

from gridbot.messages import Reply
from gridbot.models.kf import KF_STATE_HUMAN
from gridbot.router import Context, Router
from gridbot.services import kf
from gridbot.services.audit import record
from gridbot.texts import t

_TO_PERSON = re.compile(r"^(转人工|人工|人工客服|找网格员|转网格员)[。!！]*$")
_COMPLAINT = re.compile(r"投诉.{0,12}(网格员|网格长)|(网格员|网格长).{0,12}(投诉|不作为|态度差|不管)")


def _check(ctx: Context) -> str | None:
    inbound = ctx.inbound
    if inbound.platform != kf.PLATFORM or not inbound.is_text or ctx.speaker.is_member:
        return None
    if _COMPLAINT.search(ctx.text):
        return "complaint"
    if _TO_PERSON.match(ctx.text.replace(" ", "")):
        return "person"
    return None


def _run(ctx: Context, why: str) -> list[Reply]:
    inbound = ctx.inbound
    open_kfid = str(inbound.event_data.get("open_kfid") or "")
    row = kf.session_for(ctx.session, open_kfid, inbound.sender_id, ctx.now, lock=True)
    person = kf.person_for(ctx.session, row.grid_id, complaint=why == "complaint")
    if person is None:
        return [Reply(t("kf.nobody"))]
    record(ctx.session, f"resident:{inbound.sender_id}", "kf.trans", "kf_session", row.id,
           {"servicer": person.userid, "why": why}, at=ctx.now)
    if open_kfid == kf.LOCAL_KFID:
        # the embedded account (simulator, `gridbot say --kf`) has no WeCom to call trans on: handed over now
        # (audited just above)
        row.service_state, row.servicer = KF_STATE_HUMAN, person.userid
    # the session goes to the person once this reply is sent (senders/kf.py): after it the bot may not speak
    return [Reply(t("kf.to_leader" if why == "complaint" else "kf.to_person", who=person.name),
                  extra={"kf_trans": person.userid})]


def _media_check(ctx: Context) -> str | None:
    """A resident's picture, voice or location in 微信客服: no words to read (kf voice has no transcript)."""
    inbound = ctx.inbound
    if inbound.platform != kf.PLATFORM or ctx.speaker.is_member:
        return None
    return {"image": "media", "voice_media": "media", "location": "location"}.get(inbound.kind)


def _media_run(ctx: Context, what: str) -> list[Reply]:
    return [Reply(t(f"kf.{what}_words"))]


def register(router: Router) -> None:
    router.rule("kf_person", _check, _run)
    router.rule("kf_media", _media_check, _media_run)
