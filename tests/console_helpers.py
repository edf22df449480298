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
    ids: dict[str, int] = field(default_factory=dict)        # binding / reminder / announcement / account ids

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
    add_objects(world)
    return world


def add_objects(world: ConsoleWorld) -> None:
    """A pending registration in HY-01, 赵网格员's own reminder and his scheduled announcement to HY-01."""
    from datetime import timedelta

    from sqlalchemy import select

    from gridbot.models.console import ConsoleAccount
    from gridbot.schedule.parse import parse
    from gridbot.services import announcements, bindings, reminders

    app = world.app
    now = app.clock.now()
    zhao = world.bot.world.members["mem_zhao"]
    with app.session() as s, s.begin():
        change = bindings.register(s, platform="console", user_id="res_b", display_name="钱阿姨",
                                   address=bindings.AddressParts("1", "1", "102"), now=now)
        world.ids["binding"] = change.binding.id
        r = reminders.create_reminder(s, community_id=world.bot.world.community_id, owner_member_id=zhao,
                                      created_by="member:mem_zhao", target_type="member", target_member_id=zhao,
                                      schedule=parse("每周一 9点", now, "Asia/Shanghai"), text="交周报", now=now)
        world.ids["reminder"] = r.id
        ann, _ = announcements.create(s, community_id=world.bot.world.community_id, author_member_id=zhao,
                                      author_userid="mem_zhao", author_name="赵网格员", actor="member:mem_zhao",
                                      scope="grid", grid_ids=[world.bot.world.grids["HY-01"]], text="周六停水",
                                      mention_all=False, send_at=now + timedelta(days=2), now=now)
        world.ids["announcement"] = ann.id
        account = s.scalar(select(ConsoleAccount).where(ConsoleAccount.username == "zhao"))
        world.ids["account"] = account.id
        world.ids["token"] = create_token(s, account, "spare", actor="test", now=now)[0].id


def module_world(db_templates: Any, tmp_path: Any, test_config: dict[str, Any] | None = None) -> ConsoleWorld:
    """A world shared by a module's tests (for long parametrized matrices): SQLite, frozen clock, sync jobs."""
    from gridbot import migrate
    from gridbot.bootstrap import build, set_current
    from gridbot.clock import FrozenClock

    from .conftest import T0, make_settings

    settings = make_settings(f"sqlite:///{tmp_path / 'gridbot.db'}", tmp_path)
    db_templates.fill(settings.database_url)
    migrate.upgrade(settings.database_url)
    app = build(settings, clock=FrozenClock(T0), sync_jobs=True)
    set_current(app)
    bot = Bot(app)
    bot.seed()
    return build_world(bot, test_config)
