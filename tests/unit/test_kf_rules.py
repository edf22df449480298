"""微信客服 follows the group's rules (issue 17 point 6) and reads what kf/sync_msg gives (point 2): a report here and
one from the group are the same ticket; progress comes back where it was asked; a phone number written here reaches
the responsible member only. The kf item decoder (doc 94670): text with a menu click, image, voice, location, events,
a person's own messages, an unknown type and a malformed item."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from gridbot.adapters import Unreadable
from gridbot.adapters.wecom_kf import decode
from gridbot.models import OutboxMessage, Ticket
from gridbot.pipeline.kf_sync import local_message


def said(bot, text: str, userid: str = "wmKF0001", grid: str = "HY-01") -> str:
    return "\n".join(r.text for r in local_message(bot.app, grid, userid, text))


def test_a_kf_report_and_a_group_report_of_the_same_thing_are_one_ticket(bot):
    first = bot.said("1栋2单元楼道灯坏了", as_="res_a", chat="HY-01")
    with bot.app.session() as s:
        number = s.scalar(select(Ticket.number))
    assert number in first
    second = said(bot, "1栋2单元楼道灯坏了好几天了")
    assert number in second
    with bot.app.session() as s:
        tickets = s.scalars(select(Ticket)).all()
        assert len(tickets) == 1 and tickets[0].reporters == 2
    # progress asked about here comes back here (privately), not in the group
    mine = said(bot, "我的工单")
    assert number in mine


def test_a_phone_written_in_kf_reaches_the_member_only(bot):
    text = said(bot, "1栋1单元101家里厨房漏水，电话13812345678")
    assert "13812345678" not in text
    with bot.app.session() as s:
        tk = s.scalar(select(Ticket))
        assert tk.contact_phone == "13812345678" and "13812345678" not in tk.description
        rows = s.scalars(select(OutboxMessage)).all()
        with_phone = {r.target for r in rows if "13812345678" in (r.content or {}).get("text", "")}
        assert with_phone == {tk.assignee.userid}


def item(msgtype: str, body: dict | None = None, origin: int = 3, **extra) -> dict:
    base = {"msgid": f"m-{msgtype}", "open_kfid": "wkA", "external_userid": "wmR", "send_time": 1_700_000_000,
            "origin": origin, "msgtype": msgtype, **extra}
    if body is not None:
        base[msgtype] = body
    return base


def test_decode_reads_what_the_bot_handles_and_skips_the_rest():
    tap, why = decode(item("text", {"content": "满意", "menu_id": "rate:satisfied"}))
    assert (tap.platform, tap.chat_type, tap.sender_id, tap.text, why) == ("wecom_kf", "single", "wmR", "满意", None)
    assert tap.event_data["menu_id"] == "rate:satisfied" and tap.event_data["open_kfid"] == "wkA"
    image, why = decode(item("image", {"media_id": "MEDIA1"}))
    assert (image.kind, image.event_data["media_id"], why) == ("image", "MEDIA1", None)
    voice, why = decode(item("voice", {"media_id": "MEDIA2"}))
    assert voice.kind == "voice_media" and voice.text == "" and why is None   # no transcript: not read as words
    loc, _ = decode(item("location", {"latitude": 23.1, "longitude": 113.3, "name": "幸福小区", "address": "4栋"}))
    assert (loc.location.latitude, loc.location.longitude, loc.location.label) == (23.1, 113.3, "幸福小区 4栋")
    enter, why = decode(item("event", origin=4, event={"event_type": "enter_session", "scene_param": "XF-02",
                                                       "welcome_code": "W1", "external_userid": "wmR"}))
    assert (enter.kind, enter.event, enter.event_data["scene_param"], why) == ("event", "enter_session", "XF-02", None)
    _, why = decode(item("event", origin=4, event={"event_type": "user_recall_msg"}))
    assert why and "not handled" in why
    _, why = decode(item("text", {"content": "我是网格员"}, origin=5))
    assert why and "origin 5" in why
    _, why = decode(item("video", {"media_id": "V"}))
    assert why and "video" in why
    with pytest.raises(Unreadable):
        decode(item("location", {"latitude": "north"}))
    with pytest.raises(Unreadable):
        decode({"msgtype": "text"})


def test_the_window_closes_a_little_before_48_hours_and_counts_5_per_message():
    from datetime import UTC, datetime, timedelta

    from gridbot.models.kf import KfSession
    from gridbot.services import kf

    t0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    row = KfSession(open_kfid="wkA", external_userid="wmR", last_customer_msg_at=t0, sends_since_customer_msg=0,
                    service_state=0)
    assert [kf.take_slot(row, t0).allowed for _ in range(6)] == [True] * 5 + [False]
    row.sends_since_customer_msg = 0
    assert kf.take_slot(row, t0 + timedelta(hours=47, minutes=50)).allowed
    late = kf.take_slot(row, t0 + timedelta(hours=47, minutes=58))
    assert not late.allowed and "48 h" in late.reason
    row.service_state = 3
    assert not kf.take_slot(row, t0).allowed   # a person has the session


def test_register_works_in_kf(bot):
    from gridbot.models import ChatIdentity, HouseholdBinding
    from gridbot.models.kf import KfSession

    said(bot, "登记 1栋1单元101", userid="wmKFreg")
    with bot.app.session() as s:
        assert s.scalar(select(KfSession.grid_id).where(KfSession.external_userid == "wmKFreg")) is not None
        binding = s.scalar(select(HouseholdBinding).join(ChatIdentity).where(ChatIdentity.user_id == "wmKFreg"))
        assert binding is not None and binding.status == "pending"   # a member of HY-01 confirms it


def test_the_held_notice_states_wecoms_rule_not_a_daily_quota():
    """Doc 94677: 5 messages per message of the resident, not per day; a member told "今天已发满" would wait for
    tomorrow instead of asking the resident to write."""
    from gridbot.texts import t

    notice = t("kf.held_notice", number="XF-20261205-0001")
    assert "今天" not in notice and "5 条" in notice and "48 小时" in notice


def test_greeting_and_help_in_kf_do_not_ask_for_an_at_and_offer_a_person(bot):
    """微信客服 is a private chat: "直接@我" reads wrong there, and 转人工 is learnt only from the bot.
    (The 反馈 command's one-line summary in 帮助 still says "直接@我说明也一样": shared with the group.)"""
    for text in ("你好", "帮助"):
        answer = said(bot, text, userid="wmKFhelp01")
        assert "直接@我说明情况" not in answer and "转人工" in answer, (text, answer)
