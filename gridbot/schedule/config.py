"""config/schedules.yaml read into plain objects: quiet hours, duty rhythms, system jobs and their policies."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .. import texts
from ..config import DEFAULT_TIMEZONE, ConfigError, load_yaml
from .parse import OFFICE_VALUE, Recurrence, recurrence

LATE_POLICIES = ("send_late_once", "skip")
AUDIENCES = ("members", "leaders", "grid_chats")
_EVERY = re.compile(r"^(\d+)\s*([smh])$")


@dataclass(frozen=True)
class QuietHours:
    """A nightly window (start > end wraps midnight) in which non-urgent messages wait for `end`."""

    start: time
    end: time
    tz: str = DEFAULT_TIMEZONE

    def hold_until(self, now: datetime) -> datetime | None:
        """When a non-urgent message written at `now` may go out, or None if it may go now."""
        if self.start == self.end:
            return None
        local = now.astimezone(ZoneInfo(self.tz))
        t = local.time()
        wraps = self.start > self.end
        inside = (t >= self.start or t < self.end) if wraps else (self.start <= t < self.end)
        if not inside:
            return None
        release = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if release <= local:
            release += timedelta(days=1)
        return release


@dataclass(frozen=True)
class Cadence:
    """When something recurs: an RRULE (from a fixed anchor) or a fixed interval slotted from local midnight.

    Every scheduler computes the same instants from the same config, so occurrence keys agree.
    """

    rrule: str | None = None
    every: timedelta | None = None
    tz: str = DEFAULT_TIMEZONE
    anchor: datetime = datetime(2026, 1, 1)

    def _anchor(self) -> datetime:
        return self.anchor.replace(tzinfo=ZoneInfo(self.tz))

    def _rule(self) -> Recurrence:
        if self.rrule is None:
            raise ValueError("a cadence needs an rrule or an interval")
        return recurrence(self.rrule, self._anchor(), self.tz)

    def after(self, t: datetime) -> datetime | None:
        """The first occurrence strictly after t."""
        if self.every is not None:
            a = self._anchor()
            n = (t - a) // self.every + 1
            return a + n * self.every
        return self._rule().after(t.astimezone(ZoneInfo(self.tz)), inc=False)

    def latest(self, t: datetime) -> datetime | None:
        """The last occurrence at or before t."""
        if self.every is not None:
            a = self._anchor()
            return a + ((t - a) // self.every) * self.every
        return self._rule().before(t.astimezone(ZoneInfo(self.tz)), inc=True)


@dataclass(frozen=True)
class DutyRule:
    key: str
    rrule: str
    audience: str
    text: str
    late: str = "send_late_once"
    enabled: bool = True


@dataclass(frozen=True)
class SystemJob:
    name: str
    cadence: Cadence
    job: str
    late: str = "skip"
    quiet_exempt: bool = False
    args: tuple = ()
    enabled: bool = True


@dataclass(frozen=True)
class SchedulerConfig:
    timezone: str = DEFAULT_TIMEZONE
    tick_seconds: float = 20
    late_grace: timedelta = timedelta(minutes=10)
    max_catch_up: int = 100
    quiet: QuietHours = field(default_factory=lambda: QuietHours(time(22), time(7)))
    duty: tuple[DutyRule, ...] = ()
    jobs: tuple[SystemJob, ...] = ()


def _hhmm(value: object, where: str) -> time:
    try:
        h, m = str(value).split(":")
        return time(int(h), int(m))
    except (ValueError, TypeError):
        raise ConfigError(f"schedules.yaml {where}={value!r}: 应为 HH:MM (expected HH:MM)") from None


def _check_rrule(rule: str, where: str) -> str:
    try:   # an RRULE, or gridbot's X-WORKDAY extension (gridbot/schedule/parse.py)
        recurrence(rule, datetime(2026, 1, 1, tzinfo=ZoneInfo(DEFAULT_TIMEZONE)), DEFAULT_TIMEZONE)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"schedules.yaml {where}: RRULE 无效 (invalid RRULE {rule!r}: {err})") from None
    return rule


def _late(value: object, where: str) -> str:
    value = value or "send_late_once"
    if value not in LATE_POLICIES:
        raise ConfigError(f"schedules.yaml {where}.late={value!r}: 应为 {' / '.join(LATE_POLICIES)}")
    return str(value)


def parse_config(data: dict, timezone: str = DEFAULT_TIMEZONE) -> SchedulerConfig:
    """`timezone` is GRIDBOT_TIMEZONE (Settings.timezone); a `timezone:` in schedules.yaml overrides it."""
    data = data or {}
    tz = data.get("timezone") or timezone
    quiet_raw = data.get("quiet_hours") or {}
    quiet = QuietHours(_hhmm(quiet_raw.get("start", "22:00"), "quiet_hours.start"),
                       _hhmm(quiet_raw.get("end", "07:00"), "quiet_hours.end"), tz)
    for word, value in (data.get("office_words") or {}).items():   # resolved by parse.office_times
        if not OFFICE_VALUE.match(str(value).strip()):
            raise ConfigError(f"schedules.yaml office_words.{word}={value!r}: "
                              "应为 HH:MM、start、end、start-30 或 end+15")
    duty = []
    for key, raw in (data.get("duty") or {}).items():
        where = f"duty.{key}"
        audience = raw.get("audience", "members")
        if audience not in AUDIENCES:
            raise ConfigError(f"schedules.yaml {where}.audience={audience!r}: 应为 {' / '.join(AUDIENCES)}")
        duty.append(DutyRule(key=key, rrule=_check_rrule(raw.get("rrule", ""), where), audience=audience,
                             text=raw.get("text", key), late=_late(raw.get("late"), where),
                             enabled=bool(raw.get("enabled", True))))
    jobs = []
    for name, raw in (data.get("jobs") or {}).items():
        where = f"jobs.{name}"
        if raw.get("every"):
            m = _EVERY.match(str(raw["every"]).strip())
            if not m:
                raise ConfigError(f"schedules.yaml {where}.every={raw['every']!r}: 应为 30s / 5m / 1h 这样的间隔")
            n, unit = int(m.group(1)), m.group(2)
            cadence = Cadence(every=timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours"}[unit]: n}), tz=tz)
        elif raw.get("rrule"):
            cadence = Cadence(rrule=_check_rrule(raw["rrule"], where), tz=tz)
        else:
            raise ConfigError(f"schedules.yaml {where}: 需要 rrule 或 every (needs rrule or every)")
        if not raw.get("job"):
            raise ConfigError(f"schedules.yaml {where}: 缺少 job (the import path to run)")
        jobs.append(SystemJob(name=name, cadence=cadence, job=raw["job"], late=_late(raw.get("late", "skip"), where),
                              quiet_exempt=bool(raw.get("quiet_exempt", False)), args=tuple(raw.get("args") or ()),
                              enabled=bool(raw.get("enabled", True))))
    return SchedulerConfig(timezone=tz, tick_seconds=float(data.get("tick_seconds", 20)),
                           late_grace=timedelta(minutes=float(data.get("late_grace_minutes", 10))),
                           max_catch_up=int(data.get("max_catch_up", 100)), quiet=quiet,
                           duty=tuple(duty), jobs=tuple(jobs))


def load_config(config_dir: Path | None = None, timezone: str = DEFAULT_TIMEZONE) -> SchedulerConfig:
    """config/schedules.yaml (cached until the file changes). Missing file: the defaults, nothing scheduled."""
    if config_dir is None:
        config_dir = texts.config_dir()  # the directory the app was built with
    if not (Path(config_dir) / "schedules.yaml").is_file():
        return SchedulerConfig(timezone=timezone, quiet=QuietHours(time(22), time(7), timezone))
    data = load_yaml(Path(config_dir), "schedules.yaml")  # the same object until the file changes
    cached = _parsed.get((id(data), timezone))
    if cached is None or cached[0] is not data:
        _parsed.clear()
        cached = _parsed[(id(data), timezone)] = (data, parse_config(data, timezone))
    return cached[1]


_parsed: dict[tuple[int, str], tuple[object, SchedulerConfig]] = {}


def quiet_hold(now: datetime, urgent: bool, config_dir: Path | None = None,
               timezone: str | None = None) -> datetime | None:
    """The outbox rule: when a non-urgent proactive message written at `now` may go out (None = now). Quiet
    hours are in the app's GRIDBOT_TIMEZONE unless a zone is given."""
    if urgent:
        return None
    return load_config(config_dir, timezone or texts.people_timezone()).quiet.hold_until(now)
