"""All models, imported here so that Base.metadata knows every table (Alembic, create_all)."""
from .audit import AuditLog
from .base import Base, UTCDateTime, utcnow
from .coverage import CoverageSnapshot
from .household import (ChatIdentity, ChatMembership, Household, HouseholdBinding, HOUSEHOLD_TAGS,
                        KEY_HOUSEHOLD_TAGS)
from .messaging import InboundMessage, OutboxMessage
from .tickets import Ticket, TicketEvent, TicketReporter, TicketSequence  # noqa: F401  (tickets)
from .org import (Community, Grid, GridChat, LEADER_ROLES, Member, MemberGrid, ROLES, UnknownChat,
                  grid_neighbours)
from .work import Leave, Patrol, Visit, WorkLog  # noqa: F401  (work: patrols, visits, logs, leaves)
from .scheduling import Announcement, Occurrence, Reminder, SchedulerJob  # noqa: F401  (scheduling)
from .console import ApiToken, ConsoleAccount, LoginFailure  # noqa: F401  (web console)

__all__ = [
    "AuditLog", "Base", "UTCDateTime", "utcnow", "ChatIdentity", "ChatMembership", "Household",
    "HouseholdBinding", "HOUSEHOLD_TAGS", "KEY_HOUSEHOLD_TAGS", "InboundMessage", "OutboxMessage",
    "Community", "Grid", "GridChat", "LEADER_ROLES", "Member", "MemberGrid", "ROLES", "UnknownChat",
    "grid_neighbours",
]
