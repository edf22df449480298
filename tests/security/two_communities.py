"""A second community (青山, QS) next to the console world's 和园 (HY), for attacks across communities.

Everything of QS carries names that occur nowhere in HY, so a test can search any page, reply or output for them
(SECRETS) and know that something crossed when one shows up.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gridbot.models import Community, Grid, GridChat, Household, Member, MemberGrid
from gridbot.web.auth import create_account, create_token
from tests.console_helpers import PASSWORD, ConsoleWorld, report_ticket

SECRETS = ("青山甲网格", "青山乙网格", "青山书记", "青山网格员", "青山住户", "13611112222", "13622223333",
           "13633334444", "杏花路88号")


@dataclass
class Other:
    """Handles to what QS holds."""

    community_id: int = 0
    grids: dict[str, int] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)
    households: list[int] = field(default_factory=list)
    ticket: str = ""
    account_id: int = 0
    token: str = ""


def add_other_community(world: ConsoleWorld) -> Other:
    app = world.app
    other = Other()
    now = app.clock.now()
    with app.session() as s, s.begin():
        c = Community(code="QS", name="青山社区")
        s.add(c)
        s.flush()
        other.community_id = c.id
        top = Grid(community_id=c.id, code="QS", name="青山社区网格", level=1)
        s.add(top)
        s.flush()
        other.grids["QS"] = top.id
        for code, name in (("QS-01", "青山甲网格"), ("QS-02", "青山乙网格")):
            g = Grid(community_id=c.id, code=code, name=name, level=2, parent_id=top.id)
            s.add(g)
            s.flush()
            s.add(GridChat(grid_id=g.id, chat_id=f"chat-{code.lower()}", name=f"{name}群"))
            other.grids[code] = g.id
        for userid, name, roles, code, phone in (
                ("qs_sec", "青山书记", ["secretary", "grid_leader"], "QS", "13633334444"),
                ("qs_mem", "青山网格员", ["member"], "QS-01", "13622223333")):
            m = Member(community_id=c.id, name=name, userid=userid, phone=phone, roles=roles)
            s.add(m)
            s.flush()
            s.add(MemberGrid(member_id=m.id, grid_id=other.grids[code]))
            other.members[userid] = m.id
        for room in ("101", "102"):
            h = Household(grid_id=other.grids["QS-01"], building="9", unit="1", room=room, head_name=f"青山住户{room}",
                          phone="13611112222", tags=["独居老人"])
            s.add(h)
            s.flush()
            other.households.append(h.id)
        account = create_account(s, username="qsec", password=PASSWORD, member_userid="qs_sec", now=now)
        other.account_id = account.id
        other.token = create_token(s, account, "qs token", actor="test", now=now)[1]
    world.bot.world.chats["QS-01"] = "chat-qs-01"
    other.ticket = report_ticket(world.bot, "QS-01", "杏花路88号 9栋1单元101 楼道灯坏了好几天了", "res_qs")
    return other
