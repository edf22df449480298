"""The organisation: communities, the grid hierarchy, the chat groups bound to grids, and grid members."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow

# Roles, lowest to highest authority. A person can hold several (a secretary is also a grid leader).
ROLE_PART_TIME = "part_time"          # 兼职网格员
ROLE_MEMBER = "member"                # 专职网格员
ROLE_BUILDING_LEADER = "building_leader"  # 楼栋长
ROLE_GROUP_LEADER = "group_leader"    # 居民小组长
ROLE_GRID_LEADER = "grid_leader"      # 二/三级网格长
ROLE_SECRETARY = "secretary"          # 一级网格长 = 社区党委书记
ROLE_CHIEF = "chief"                  # 总网格长
ROLE_OPERATOR = "operator"            # system configuration, no case work
ROLES = (ROLE_PART_TIME, ROLE_MEMBER, ROLE_BUILDING_LEADER, ROLE_GROUP_LEADER,
         ROLE_GRID_LEADER, ROLE_SECRETARY, ROLE_CHIEF, ROLE_OPERATOR)
LEADER_ROLES = frozenset({ROLE_GRID_LEADER, ROLE_SECRETARY, ROLE_CHIEF})

# What a chat is decides how the bot can speak into it (WECOM.md "How messages can reach the bot", "Sending").
# Recorded when the chat is bound or synced, never guessed from its id: internal and customer groups both start "wr".
CHAT_UNKNOWN = "unknown"
CHAT_AIBOT_GROUP = "aibot_group"        # internal group where the AI bot is: response_url, else robot / app message
CHAT_ROBOT_GROUP = "robot_group"        # internal group with a group robot (webhook key)
CHAT_APP_CHAT = "app_chat"              # a group the app itself created: appchat/send
CHAT_CUSTOMER_GROUP = "customer_group"  # 客户群 of residents: add_msg_template confirmed by a member, or by hand
CHAT_SINGLE = "single"                  # 1:1 with a member
CHAT_KF = "kf"                          # 微信客服 (issue 17)
CHAT_KINDS = (CHAT_UNKNOWN, CHAT_AIBOT_GROUP, CHAT_ROBOT_GROUP, CHAT_APP_CHAT, CHAT_CUSTOMER_GROUP, CHAT_SINGLE,
              CHAT_KF)


def chat_kind_of_route(platform: str, chat_type: str | None) -> str:
    """The kind a chat is known to be by the route a message came from: a group message from the AI bot is from an
    internal group with the AI bot in it (the AI bot cannot be in a customer group). Anything else says nothing."""
    if platform == "wecom_aibot" and chat_type == "group":
        return CHAT_AIBOT_GROUP
    if platform == "wecom_kf":
        return CHAT_KF
    return CHAT_UNKNOWN

grid_neighbours = Table(
    "grid_neighbours",
    Base.metadata,
    Column("grid_id", ForeignKey("grids.id", ondelete="CASCADE"), primary_key=True),
    Column("neighbour_id", ForeignKey("grids.id", ondelete="CASCADE"), primary_key=True),
)


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    grids: Mapped[list[Grid]] = relationship(back_populates="community")


class Grid(Base):
    """A grid at some level: 1 = the community's top grid, 2 = grid (网格), 3 = small grid (小网格)."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    level: Mapped[int] = mapped_column(Integer, default=2)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    community: Mapped[Community] = relationship(back_populates="grids")
    parent: Mapped[Grid | None] = relationship(remote_side="Grid.id", back_populates="children")
    children: Mapped[list[Grid]] = relationship(back_populates="parent")
    neighbours: Mapped[list[Grid]] = relationship(
        secondary=grid_neighbours,
        primaryjoin=lambda: Grid.id == grid_neighbours.c.grid_id,
        secondaryjoin=lambda: Grid.id == grid_neighbours.c.neighbour_id,
    )
    chats: Mapped[list[GridChat]] = relationship(back_populates="grid", cascade="all, delete-orphan")


class GridChat(Base):
    """A chat group bound to a grid (一网格一微信群). A chat belongs to at most one grid."""

    __tablename__ = "grid_chats"

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str | None] = mapped_column(String(128))
    robot_key: Mapped[str | None] = mapped_column(String(128))   # group robot webhook key, if the group has one
    kind: Mapped[str] = mapped_column(String(32), default=CHAT_UNKNOWN, server_default=CHAT_UNKNOWN)  # CHAT_KINDS
    mem_ver: Mapped[str | None] = mapped_column(String(64))   # CurMemVer of the last change_external_chat applied
    bound_by: Mapped[str | None] = mapped_column(String(128))
    bound_at: Mapped[datetime] = mapped_column(default=utcnow)

    grid: Mapped[Grid] = relationship(back_populates="chats")


class UnknownChat(Base):
    """A chat the bot heard from that no grid is bound to, kept so a leader can bind it (绑定本群)."""

    __tablename__ = "unknown_chats"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default=CHAT_UNKNOWN, server_default=CHAT_UNKNOWN)  # CHAT_KINDS
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    messages: Mapped[int] = mapped_column(Integer, default=1)


class MemberGrid(Base):
    """A member's responsibility for a grid, optionally narrowed to some buildings ("3,5,7")."""

    __tablename__ = "member_grids"
    __table_args__ = (UniqueConstraint("member_id", "grid_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), index=True)
    buildings: Mapped[str | None] = mapped_column(String(256))

    member: Mapped[Member] = relationship(back_populates="grid_links")
    grid: Mapped[Grid] = relationship()


class Member(Base):
    """A grid worker (staff): member, leader, secretary. Identified in WeCom by `userid`."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    userid: Mapped[str] = mapped_column(String(128), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    roles: Mapped[list[str]] = mapped_column(default=list)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    community: Mapped[Community] = relationship()
    partner: Mapped[Member | None] = relationship(remote_side="Member.id")
    grid_links: Mapped[list[MemberGrid]] = relationship(back_populates="member", cascade="all, delete-orphan")

    @property
    def grids(self) -> list[Grid]:
        return [link.grid for link in self.grid_links]
