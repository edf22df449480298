"""Time in people's words and the scheduler that acts on it.

parse.py turns the Chinese people write ("每月第一周周二 9:00", "明天下午3点") into an RFC 5545 RRULE or a
one-off instant; scheduler.py is the tick that turns due reminders, announcements and system jobs into
exactly one occurrence each.
"""
from .parse import Schedule, ScheduleError, next_occurrences, parse

__all__ = ["Schedule", "ScheduleError", "next_occurrences", "parse"]
