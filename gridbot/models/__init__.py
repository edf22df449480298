"""All models, imported here so that Base.metadata knows every table (Alembic, create_all)."""
from .archive import ArchiveConsent, ArchiveCursor, LocalArchiveMessage
from .audit import AuditLog
from .base import Base, UTCDateTime, utcnow
from .console import ApiToken, ConsoleAccount, LoginFailure
from .coverage import CoverageSnapshot
from .household import HOUSEHOLD_TAGS, KEY_HOUSEHOLD_TAGS, ChatIdentity, ChatMembership, Household, HouseholdBinding
from .kf import KfCursor, KfLink, KfSession
from .messaging import ChannelFault, InboundMessage, OutboxMessage
from .org import LEADER_ROLES, ROLES, Community, Grid, GridChat, Member, MemberGrid, UnknownChat, grid_neighbours
from .scheduling import Announcement, Occurrence, Reminder, SchedulerJob
from .tickets import Ticket, TicketEvent, TicketEvidence, TicketReporter, TicketSequence
from .toolbar import ToolbarItem
from .work import Leave, Patrol, Visit, WorkLog

__all__ = [
    "AuditLog", "Base", "UTCDateTime", "utcnow", "ChatIdentity", "ChatMembership", "Household",
    "HouseholdBinding", "HOUSEHOLD_TAGS", "KEY_HOUSEHOLD_TAGS", "InboundMessage", "OutboxMessage",
    "Community", "Grid", "GridChat", "LEADER_ROLES", "Member", "MemberGrid", "ROLES", "UnknownChat",
    "grid_neighbours", "ApiToken", "ConsoleAccount", "LoginFailure", "CoverageSnapshot", "Announcement",
    "Occurrence", "Reminder", "SchedulerJob", "Ticket", "TicketEvent", "TicketEvidence", "TicketReporter",
    "TicketSequence",
    "Leave", "Patrol", "Visit", "WorkLog",
    "ChannelFault",
    "KfCursor", "KfLink", "KfSession",
    "ToolbarItem",
    "ArchiveConsent", "ArchiveCursor", "LocalArchiveMessage",
]
