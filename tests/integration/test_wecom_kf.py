"""微信客服 end to end (issue 17), over HTTP with the fake WeCom: the app callback's kf_msg_or_event, kf/sync_msg with
its cursor and token, replies by kf/send_msg within the 48 h / 5-message rule, the welcome by send_msg_on_event,
the rating as a msgmenu tapped back, a session handed to a person; and a worker killed during a sync.
PostgreSQL + Redis, and SQLite."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gridbot.messages import Reply
from gridbot.models import Community, Grid, InboundMessage, Member, MemberGrid, OutboxMessage, Ticket
from gridbot.models.kf import KF_STATE_ENDED, KF_STATE_HUMAN, KfCursor, KfSession
from gridbot.pipeline import kf_sync
from gridbot.services import outbox
from gridbot.web import create_app
from tests.factories import seed_world
from tests.fakewecom import text_xml

KFID = "wkXFcounty0001"
RESIDENT = "wmXF02resident0001"


def kf_event_xml(token: str, open_kfid: str, create_time: int, corp_id: str = "ww1436e0e65a779aee") -> str:
    """The kf_msg_or_event callback as doc 94670 shows it: no FromUserName, a Token and the OpenKfId."""
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><CreateTime>{create_time}</CreateTime>"
            f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
            f"<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>")


@pytest.fixture
def kf_app(make_app, db_url, wecom_env, fake, clock):
    fake.kf_clock = lambda: clock.now().timestamp()
    app = make_app(db_url, env=wecom_env)
    with app.session() as s, s.begin():
        seed_world(s)
        xf = Community(code="XF", name="幸福社区")
        s.add(xf)
        s.flush()
        top = Grid(community_id=xf.id, code="XF", name="幸福社区网格", level=1)
        s.add(top)
        s.flush()
        g2 = Grid(community_id=xf.id, code="XF-02", name="第二网格", level=2, parent_id=top.id)
        s.add(g2)
        s.flush()
        for userid, name, roles in (("xf_huang", "黄磊", ["member"]), ("xf_chen", "陈静", ["grid_leader"])):
            m = Member(community_id=xf.id, name=name, userid=userid, roles=roles)
            s.add(m)
            s.flush()
            s.add(MemberGrid(member_id=m.id, grid_id=g2.id))
    return app


@pytest.fixture
def client(kf_app):
    return create_app(gridbot=kf_app).test_client()


class Resident:
    """A resident on personal WeChat who scanned a grid's code: each action is put on the fake's kf account and
    announced to gridbot by the kf_msg_or_event callback, as WeCom does."""

    def __init__(self, client, fake, signer, clock, userid: str = RESIDENT):
        self.client, self.fake, self.signer, self.clock, self.userid = client, fake, signer, clock, userid

    def notify(self) -> None:
        now = int(self.clock.now().timestamp())
        query, body = self.signer.xml_post(kf_event_xml(self.fake.kf_callback_token(), KFID, now), now)
        assert self.client.post(f"/wecom/callback?{query}", data=body).status_code == 200

    def scan(self, grid_code: str) -> None:
        self.fake.kf_enter(KFID, self.userid, grid_code)
        self.notify()

    def write(self, text: str, menu_id: str | None = None) -> None:
        self.fake.kf_write(KFID, self.userid, text, menu_id=menu_id)
        self.notify()

    def seen(self) -> list[dict]:
        return self.fake.kf_delivered(self.userid)

    def last_text(self) -> str:
        body = self.seen()[-1]
        return body["text"]["content"] if body["msgtype"] == "text" else body["msgmenu"]["head_content"]


def member_says(client, signer, clock, userid: str, text: str, msg_id: str) -> None:
    now = int(clock.now().timestamp())
    query, body = signer.xml_post(text_xml(userid, text, msg_id, now), now)
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 200


def test_a_resident_of_xf02_reports_privately_asks_my_tickets_and_taps_satisfied(
        client, kf_app, fake, app_signer, clock):
    res = Resident(client, fake, app_signer, clock)
    res.scan("XF-02")
    welcome = res.seen()
    assert len(welcome) == 1 and "_touser" in welcome[0] and "转人工" in welcome[0]["text"]["content"]

    clock.advance(seconds=30)
    res.write("4栋2单元楼道灯坏了，晚上很黑")
    with kf_app.session() as s:
        ticket = s.scalar(select(Ticket))
        assert ticket is not None and ticket.grid.code == "XF-02" and ticket.reporter_id == RESIDENT
        number = ticket.number
    assert number in res.last_text()

    res.write("我的工单")
    assert number in res.last_text()

    member_says(client, app_signer, clock, "xf_huang", f"受理 {number}", "k1")
    member_says(client, app_signer, clock, "xf_huang", f"处置 {number}", "k2")
    member_says(client, app_signer, clock, "xf_huang", f"办结 {number} 灯已换好", "k3")
    menu = res.seen()[-1]
    assert menu["msgtype"] == "msgmenu", "the rating question comes as tappable choices"
    assert [i["click"]["content"] for i in menu["msgmenu"]["list"]] == ["满意", "基本满意", "不满意"]
    assert number in menu["msgmenu"]["head_content"]

    tap = menu["msgmenu"]["list"][0]["click"]
    res.write(tap["content"], menu_id=tap["id"])   # a tap comes back as a text with its menu_id
    with kf_app.session() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket.rating == "satisfied"
    assert "满意" in res.last_text()
    # every sync passed the callback's token; nothing was ever refused by WeCom's window
    syncs = [r for r in fake.received if r.path == "/cgi-bin/kf/sync_msg"]
    assert syncs and all(r.body.get("token") for r in syncs)
    assert fake.kf_refused == []


def test_the_48h_and_5_message_rule_is_never_broken_and_a_late_reply_goes_when_the_resident_writes_again(
        client, kf_app, fake, app_signer, clock):
    res = Resident(client, fake, app_signer, clock)
    res.scan("XF-02")
    clock.advance(seconds=60)
    res.write("你好")                         # answered: 1 of 5
    assert len(res.seen()) == 2              # welcome (send_msg_on_event, not counted) + the answer

    def notices(n: int, tag: str) -> list[int]:
        with kf_app.session() as s, s.begin():
            rows = outbox.write_replies(s, None, [Reply(f"通知{tag}{i}", to_user=RESIDENT) for i in range(n)],
                                        clock.now(), "wecom_kf")
            return [r.id for r in rows]

    notices(6, "A")                          # 4 fit (5 in all), 2 wait
    with kf_app.session() as s:
        held = s.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "held")).all()
    assert len(held) == 2
    assert len(res.seen()) == 6 and fake.kf_refused == []

    clock.advance(hours=49)                  # the window has closed
    notices(1, "B")
    with kf_app.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.status == "held")) == 3
    assert len(res.seen()) == 6 and fake.kf_refused == []

    res.write("在吗")                         # the resident writes again: the held replies go, within the new 5
    texts = [b["text"]["content"] for b in res.seen()[6:] if b["msgtype"] == "text"]
    assert {"通知A4", "通知A5", "通知B0"} <= set(texts)
    assert len(res.seen()) - 6 <= 5
    assert fake.kf_refused == [], "gridbot never asked WeCom for a send outside the rule"


def test_a_held_message_that_matters_is_told_to_the_member(client, kf_app, fake, app_signer, clock):
    res = Resident(client, fake, app_signer, clock)
    res.scan("XF-02")
    res.write("4栋2单元楼道灯坏了")
    with kf_app.session() as s:
        number = s.scalar(select(Ticket.number))
    member_says(client, app_signer, clock, "xf_huang", f"受理 {number}", "h1")
    member_says(client, app_signer, clock, "xf_huang", f"处置 {number}", "h3")
    clock.advance(hours=49)
    member_says(client, app_signer, clock, "xf_huang", f"办结 {number} 灯已换好", "h2")
    with kf_app.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.status == "held")) == 1
    told = [r.body for r in fake.sent("/cgi-bin/message/send") if r.body.get("touser") == "xf_huang"]
    assert any(number in b["text"]["content"] and "48 小时" in b["text"]["content"] for b in told)
    assert fake.kf_refused == []


def test_to_person_hands_the_session_over_and_the_bot_is_silent_until_it_ends(
        client, kf_app, fake, app_signer, clock):
    res = Resident(client, fake, app_signer, clock)
    res.scan("XF-02")
    res.write("转人工")
    assert "黄磊" in res.last_text()
    trans = [r.body for r in fake.sent("/cgi-bin/kf/service_state/trans")]
    assert trans == [{"open_kfid": KFID, "external_userid": RESIDENT, "service_state": 3,
                      "servicer_userid": "xf_huang"}]
    before = len(res.seen())
    res.write("4栋电梯坏了")                   # a person has the session: the bot says nothing, opens nothing
    assert len(res.seen()) == before
    with kf_app.session() as s:
        assert s.scalar(select(KfSession.service_state)) == KF_STATE_HUMAN
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0
    fake.kf_end(KFID, RESIDENT)
    res.notify()
    with kf_app.session() as s:
        assert s.scalar(select(KfSession.service_state)) == KF_STATE_ENDED
    res.write("我的工单")
    assert len(res.seen()) == before + 1


def test_a_complaint_about_the_member_goes_to_the_grid_leader(client, kf_app, fake, app_signer, clock):
    res = Resident(client, fake, app_signer, clock)
    res.scan("XF-02")
    res.write("我要投诉网格员，反映的事一直没人管")
    trans = [r.body for r in fake.sent("/cgi-bin/kf/service_state/trans")]
    assert [b["servicer_userid"] for b in trans] == ["xf_chen"]
    assert "陈静" in res.last_text()


def test_a_worker_killed_during_a_sync_loses_and_repeats_nothing(kf_app, fake, clock, monkeypatch):
    fake.kf_page_size = 2
    fake.kf_enter(KFID, RESIDENT, "XF-02")
    for i in range(4):
        fake.kf_write(KFID, RESIDENT, f"第{i}条：{i + 3}栋路灯坏了")
    real = kf_sync.store_page
    pages = {"n": 0}

    def dies_on_the_second_page(session, items, now):
        pages["n"] += 1
        out = real(session, items, now)
        if pages["n"] == 2:
            raise SystemExit("worker killed")   # after storing, before the commit
        return out

    monkeypatch.setattr(kf_sync, "store_page", dies_on_the_second_page)
    with pytest.raises(SystemExit):
        kf_sync.sync(kf_app, KFID, fake.kf_callback_token())
    with kf_app.session() as s:
        assert s.scalar(select(KfCursor.cursor)) == "c2"       # the first page committed with its messages
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 2
    monkeypatch.setattr(kf_sync, "store_page", real)
    assert kf_sync.sync(kf_app, KFID, fake.kf_callback_token()) == 3
    assert kf_sync.sync(kf_app, KFID) == 0                       # nothing new: nothing stored twice
    with kf_app.session() as s:
        rows = s.scalars(select(InboundMessage).where(InboundMessage.platform == "wecom_kf")).all()
        assert len(rows) == 5 and len({r.dedupe_key for r in rows}) == 5
        assert all(r.status == "done" for r in rows)
        assert s.scalar(select(KfCursor.cursor)) == "c5"
    answers = [r.body for r in fake.sent("/cgi-bin/kf/send_msg") if r.body.get("touser") == RESIDENT]
    assert len(answers) == 4, "each of the four messages answered once"


def test_kf_links_makes_one_link_per_grid_with_its_code_as_scene_and_an_a4_sheet(kf_app, wecom_env, fake, tmp_path):
    import io
    import json

    from click.testing import CliRunner
    from PIL import Image

    from gridbot.cli import main
    from gridbot.services.kf_links import A4

    env = {**wecom_env, "GRIDBOT_DATABASE_URL": kf_app.settings.database_url,
           "GRIDBOT_INSTANCE_DIR": str(tmp_path / "instance")}
    result = CliRunner(env=env).invoke(main, ["wecom", "kf-links", "--open-kfid", KFID, "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    done = {d["code"]: d for d in json.loads(result.stdout)}
    assert {"HY-01", "HY-02", "HY-03", "XF-02"} <= set(done)
    calls = [r.body for r in fake.sent("/cgi-bin/kf/add_contact_way")]
    assert sorted(c["scene"] for c in calls) == sorted(done) and {c["open_kfid"] for c in calls} == {KFID}
    assert done["XF-02"]["url"] == fake.kf_links["XF-02"]
    with open(done["XF-02"]["sheet"], "rb") as f:
        assert Image.open(io.BytesIO(f.read())).size == A4
    again = CliRunner(env=env).invoke(main, ["wecom", "kf-links", "--open-kfid", KFID, "--grid", "XF-02"])
    assert again.exit_code == 0 and len(fake.sent("/cgi-bin/kf/add_contact_way")) == len(calls)   # kept, not remade


def test_two_syncs_of_one_kf_account_at_once_store_and_queue_each_message_once(
        make_app, pg_url, wecom_env, fake, clock, monkeypatch):
    """PostgreSQL: the cursor row's lock makes concurrent syncs (two callbacks, two workers) take turns."""
    import threading

    fake.kf_clock = lambda: clock.now().timestamp()
    app = make_app(pg_url, env=wecom_env)
    queued: list[tuple] = []
    monkeypatch.setattr(app.queue, "enqueue", lambda *a, **k: queued.append(a))
    fake.kf_page_size = 3
    fake.hold_after_record = 0.1      # WeCom answers slowly: the two syncs overlap
    for i in range(10):
        fake.kf_write(KFID, f"wmR{i}", f"第{i}条")
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(kf_sync.sync(app, KFID))) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results)[-1] > 0 and sum(results) == 10
    ids = [a[1] for a in queued if a[0] == "gridbot.jobs.process_inbound"]
    assert len(ids) == 10 == len(set(ids))
    with app.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 10
        assert s.scalar(select(KfCursor.cursor)) == "c10"


def test_a_sync_whose_token_expired_reads_without_it(kf_app, fake, clock):
    token = fake.kf_callback_token()
    fake.kf_write(KFID, RESIDENT, "你好")
    clock.advance(minutes=11)           # the job waited: the callback's token (10 minutes) is no longer good
    assert kf_sync.sync(kf_app, KFID, token) == 1
    bodies = [r.body for r in fake.received if r.path == "/cgi-bin/kf/sync_msg"]
    assert bodies[0].get("token") == token and "token" not in bodies[-1]


def test_a_picture_or_a_voice_in_kf_is_answered_with_what_to_write(client, kf_app, fake, app_signer, clock):
    res = Resident(client, fake, app_signer, clock)
    res.scan("XF-02")
    fake.kf_write(KFID, RESIDENT, "", msgtype="voice", obj={"media_id": "VOICE1"})
    res.notify()
    assert "文字" in res.last_text()
    fake.kf_write(KFID, RESIDENT, "", msgtype="location",
                  obj={"latitude": 30.1, "longitude": 120.2, "name": "幸福小区", "address": "4栋"})
    res.notify()
    assert "位置" in res.last_text()


def test_a_held_notice_that_is_not_the_rating_question_is_not_told_to_the_member(
        client, kf_app, fake, app_signer, clock):
    """The rating question reached the resident; days later another notice waits for the window. The member must
    not hear "评价邀请要等居民再次发消息" then: the invitation was delivered."""
    res = Resident(client, fake, app_signer, clock)
    res.scan("XF-02")
    res.write("4栋2单元楼道灯坏了")
    with kf_app.session() as s:
        number = s.scalar(select(Ticket.number))
    for i, command in enumerate((f"受理 {number}", f"处置 {number}", f"办结 {number} 灯已换好")):
        member_says(client, app_signer, clock, "xf_huang", command, f"n{i}")
    assert res.seen()[-1]["msgtype"] == "msgmenu"   # the rating question was delivered
    clock.advance(hours=49)
    with kf_app.session() as s, s.begin():
        outbox.write_replies(s, None, [Reply("通知：明天停水", to_user=RESIDENT)], clock.now(), "wecom_kf")
    with kf_app.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.status == "held")) == 1
    told = [r.body for r in fake.sent("/cgi-bin/message/send") if r.body.get("touser") == "xf_huang"]
    assert not any("48 小时" in b.get("text", {}).get("content", "") for b in told)
    assert fake.kf_refused == []
