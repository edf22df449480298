"""Small factories for tests: a community with grids, members and households, and a Bot to talk to."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gridbot.messages import Inbound, Reply
from gridbot.models import Community, Grid, GridChat, Household, Member, MemberGrid

ON_ROSTER_SINCE = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class World:
    """Handles to what seed() made, by code."""

    community_id: int = 0
    grids: dict[str, int] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)
    chats: dict[str, str] = field(default_factory=dict)  # grid code -> chat id


def seed_world(session) -> World:
    """One community (HY), a top grid and three grids with a chat each, six members, 24 households.

    members (userid: roles, grids):
      sec_wang: secretary, HY (top)      lead_li: grid_leader, HY-01 and HY-02
      mem_zhao: member, HY-01 (partner mem_qian)   mem_qian: part_time, HY-01 (partner mem_zhao)
      mem_sun: member, HY-02             mem_zhou: member, HY-03
    """
    w = World()
    c = Community(code="HY", name="和园社区")
    session.add(c)
    session.flush()
    w.community_id = c.id
    top = Grid(community_id=c.id, code="HY", name="和园社区网格", level=1)
    session.add(top)
    session.flush()
    w.grids["HY"] = top.id
    grids = {}
    for i, name in enumerate(("第一网格", "第二网格", "第三网格"), start=1):
        g = Grid(community_id=c.id, code=f"HY-0{i}", name=name, level=2, parent_id=top.id)
        session.add(g)
        session.flush()
        session.add(GridChat(grid_id=g.id, chat_id=f"chat-hy-0{i}", name=f"和园{name}群"))
        grids[g.code] = g
        w.grids[g.code] = g.id
        w.chats[g.code] = f"chat-hy-0{i}"
    grids["HY-01"].neighbours = [grids["HY-02"]]
    grids["HY-02"].neighbours = [grids["HY-01"], grids["HY-03"]]
    grids["HY-03"].neighbours = [grids["HY-02"]]
    people = [
        ("sec_wang", "王书记", ["secretary", "grid_leader"], ["HY"]),
        ("lead_li", "李网格长", ["grid_leader"], ["HY-01", "HY-02"]),
        ("mem_zhao", "赵网格员", ["member"], ["HY-01"]),
        ("mem_qian", "钱网格员", ["part_time"], ["HY-01"]),
        ("mem_sun", "孙网格员", ["member"], ["HY-02"]),
        ("mem_zhou", "周网格员", ["member"], ["HY-03"]),
    ]
    for userid, name, roles, codes in people:
        m = Member(community_id=c.id, name=name, userid=userid, phone="13900000000", roles=roles,
                   created_at=ON_ROSTER_SINCE)     # on the roster before every month played (考核 counts from it)
        session.add(m)
        session.flush()
        for code in codes:
            session.add(MemberGrid(member_id=m.id, grid_id=w.grids[code]))
        w.members[userid] = m.id
    zhao, qian = (session.get(Member, w.members[u]) for u in ("mem_zhao", "mem_qian"))
    zhao.partner_id, qian.partner_id = qian.id, zhao.id
    for code, building in (("HY-01", "1"), ("HY-01", "2"), ("HY-02", "3"), ("HY-03", "5")):
        for unit in ("1", "2"):
            for room in ("101", "102", "201"):
                tags = ["独居老人"] if (building, unit, room) == ("1", "1", "101") else []
                session.add(Household(grid_id=w.grids[code], building=building, unit=unit, room=room,
                                      head_name="住户", phone="13800000000", tags=tags))
    session.flush()
    return w


class Bot:
    """Talk to the bot as it runs in production, minus HTTP: store, route, write the outbox, deliver."""

    def __init__(self, app) -> None:
        self.app = app
        self.world = World()

    def seed(self) -> World:
        with self.app.session() as session, session.begin():
            self.world = seed_world(session)
        return self.world

    def chat(self, grid_code: str) -> str:
        return self.world.chats[grid_code]

    def send(self, text: str, as_: str = "resident_a", chat: str | None = "HY-01", private: bool = False,
             name: str | None = None) -> list[Reply]:
        from gridbot.pipeline.process import handle_now

        chat_id = None if private or chat is None else self.world.chats.get(chat, chat)
        inbound = Inbound(platform="console", sender_id=as_, sender_name=name, text=text, chat_id=chat_id,
                          chat_type="group" if chat_id else "single", msg_id=uuid.uuid4().hex)
        return handle_now(self.app, inbound)

    def say(self, text: str, **kw) -> list[str]:
        return [r.text for r in self.send(text, **kw)]

    def said(self, text: str, **kw) -> str:
        """All reply texts joined: handy for `assert "已受理" in bot.said(...)`."""
        return "\n".join(self.say(text, **kw))
