"""What the bot cannot place is shown to a person on duty, not dropped: missing an urgent message is the worst error."""
from __future__ import annotations

from sqlalchemy import func, select

from gridbot.models import AuditLog, OutboxMessage, Ticket

# From the second labeller's held-out batch: urgent, and the understanding rules alone did not see a request in it;
# since issue 19 the learned model beside them does (test_what_the_rules_missed_the_model_now_takes).
UNSEEN_ELDER = "对门老太太平时每天都下楼溜达 这都第四天了没见着 喊门也没人应 不会出啥事吧"
# Neither the rules nor the model can place this one: no problem named, no chatter either.
UNCLEAR = "上回跟你们讲的那个情况 现在还是老样子 你们看着办吧"


def _private_notes(bot) -> list[tuple[str, str]]:
    """(userid, text) of every private message the bot wrote to a person."""
    with bot.app.session() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.target_type == "user")
                         .order_by(OutboxMessage.id)).all()
    return [(r.target, r.content["text"]) for r in rows]


def _tickets(bot) -> int:
    with bot.app.session() as s:
        return s.scalar(select(func.count()).select_from(Ticket))


def test_an_unrecognised_message_goes_privately_to_the_member_on_duty(bot):
    replies = bot.send(UNCLEAR, as_="resident_a", chat="HY-01", name="刘阿姨")
    assert len(replies) == 1 and "转给本网格的网格员" in replies[0].text and "110" in replies[0].text
    notes = _private_notes(bot)
    assert [who for who, _ in notes] == ["mem_zhao"]                 # HY-01's on-duty member
    assert "还是老样子" in notes[0][1] and "刘阿姨" in notes[0][1]
    assert _tickets(bot) == 0                                         # no ticket is guessed
    with bot.app.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)
                        .where(AuditLog.action == "message.forwarded_unclear")) == 1


def test_what_the_rules_missed_the_model_now_takes(bot):
    """Issue 19: an elderly neighbour not seen for days, told as a situation: a ticket, not a forwarded note."""
    replies = bot.send(UNSEEN_ELDER, as_="resident_a", chat="HY-01", name="刘阿姨")
    assert "工单号" in replies[0].text
    assert _tickets(bot) == 1


def test_the_partner_sees_it_when_the_member_is_off_duty(bot):
    from gridbot.models import Member

    with bot.app.session() as s, s.begin():
        s.get(Member, bot.world.members["mem_zhao"]).on_duty = False
    bot.send(UNCLEAR, as_="resident_a", chat="HY-01")
    assert [who for who, _ in _private_notes(bot)] == ["mem_qian"]


def test_phone_numbers_are_masked_in_what_the_member_sees(bot):
    bot.send(UNCLEAR + " 我女儿电话13812345678", as_="resident_a")
    member_text = " ".join(text for _, text in _private_notes(bot))
    assert member_text and "13812345678" not in member_text


def test_greetings_thanks_and_short_messages_are_not_forwarded(bot):
    for text in ("谢谢网格员辛苦了", "大家早上好呀", "收到", "哈哈哈哈哈哈好的呢没问题谢谢大家"):
        bot.send(text, as_="resident_a")
        assert _private_notes(bot) == [], text
    assert _tickets(bot) == 0


def test_a_message_not_addressed_to_the_bot_is_not_forwarded(bot):
    from gridbot.messages import Inbound
    from gridbot.pipeline.process import handle_now

    replies = handle_now(bot.app, Inbound(platform="console", sender_id="resident_a", text=UNCLEAR,
                                          chat_id=bot.chat("HY-01"), msg_id="m-unmentioned", mentioned=False))
    assert replies == []


def test_communities_can_switch_it_off(bot, tmp_path):
    import shutil

    import yaml

    from gridbot.services import tickets

    cfg = tmp_path / "config"
    shutil.copytree(bot.app.settings.config_dir, cfg)
    sla = yaml.safe_load((cfg / "sla.yaml").read_text(encoding="utf-8"))
    sla["unclear_forward"]["enabled"] = False
    (cfg / "sla.yaml").write_text(yaml.safe_dump(sla, allow_unicode=True), encoding="utf-8")
    bot.app.ticket_policy = tickets.Policy.load(cfg, bot.app.settings.tz)
    replies = bot.send(UNCLEAR, as_="resident_a")
    assert _private_notes(bot) == []
    assert "收到" in replies[0].text
