"""The console's test world: the factories' community (HY), one console account per role, tickets in two grids,
and a signed-in Flask test client per role. Used by tests/unit/test_console_*.py, test_api*.py and tests/e2e."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gridbot.models import Member
from gridbot.web import create_app
from gridbot.web.auth import create_account, create_token

from .factories import Bot

PASSWORD = "demo1234-test"

# role -> (username, member userid or None for the operator)
ROLES: dict[str, tuple[str, str | None]] = {
    "secretary": ("wang", "sec_wang"),          # 王书记: the whole community
    "leader": ("li", "lead_li"),                # 李网格长: HY-01 and HY-02
    "member": ("zhao", "mem_zhao"),             # 赵网格员: HY-01
    "other_member": ("zhou", "mem_zhou"),       # 周网格员: HY-03 only
    "gridless_member": ("wu", "mem_wu"),        # 吴网格员: a member with no grid yet
    "operator": ("ops", None),                  # configuration only
}


@dataclass
class ConsoleWorld:
    bot: Bot
    flask: Any
    tickets: dict[str, str] = field(default_factory=dict)    # grid code -> a ticket number there
    tokens: dict[str, str] = field(default_factory=dict)     # role -> API bearer token

    @property
    def app(self) -> Any:
        return self.bot.app

    def client(self, role: str | None) -> Any:
        """A test client signed in as `role` (None: anonymous)."""
        client = self.flask.test_client()
        if role is not None:
            login(client, ROLES[role][0], PASSWORD)
        return client

    def api(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(client: Any, username: str, password: str) -> Any:
    page = client.get("/console/login")
    token = csrf_of(page.get_data(as_text=True))
    return client.post("/console/login", data={"username": username, "password": password, "csrf_token": token})


def report_ticket(bot: Bot, grid: str, text: str, as_: str) -> str:
    """A resident reports in a grid's group; the ticket number the bot gives back."""
    replies = bot.say(text, as_=as_, chat=grid)
    for reply in replies:
        m = re.search(r"[A-Z]+-\d{8}-\d{4}", reply)
        if m:
            return m.group(0)
    raise AssertionError(f"no ticket in replies: {replies}")


def build_world(bot: Bot, test_config: dict[str, Any] | None = None) -> ConsoleWorld:
    app = bot.app
    with app.session() as s, s.begin():
        s.add(Member(community_id=bot.world.community_id, name="吴网格员", userid="mem_wu", phone="13700000000",
                     roles=["member"]))
    world = ConsoleWorld(bot=bot, flask=create_app({"TESTING": True, **(test_config or {})}, gridbot=app))
    world.tickets["HY-01"] = report_ticket(bot, "HY-01", "1栋1单元101 楼道灯坏了好几天了，电话13812345678", "res_a")
    world.tickets["HY-03"] = report_ticket(bot, "HY-03", "5栋2单元102 楼下垃圾好几天没人清运了", "res_c")
    now = app.clock.now()
    with app.session() as s, s.begin():
        for role, (username, userid) in ROLES.items():
            account = create_account(s, username=username, password=PASSWORD, member_userid=userid,
                                     operator=userid is None, now=now)
            world.tokens[role] = create_token(s, account, f"{role} token", actor="test", now=now)[1]
    return world
