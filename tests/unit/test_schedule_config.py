"""config/schedules.yaml: the shipped file is valid, quiet hours wrap midnight, and a broken entry names itself."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gridbot.config import DEFAULT_CONFIG_DIR, ConfigError
from gridbot.schedule.config import load_config, parse_config

SH = ZoneInfo("Asia/Shanghai")


def test_shipped_schedules_declare_the_seed_rhythms_and_system_jobs():
    cfg = load_config(DEFAULT_CONFIG_DIR)
    assert {d.key for d in cfg.duty} == {"monthly_patrol", "quarterly_key_visits", "yearly_household_visits",
                                         "monthly_grid_meeting", "safety_inspection_day",
                                         "fire_safety_publicity_day"}
    assert {j.name for j in cfg.jobs} >= {"sweep_tickets", "daily_digest", "roster_sync", "coverage_snapshot",
                                          "release_held_outbox"}
    assert {j.late for j in cfg.jobs} == {"skip", "send_late_once"}
    assert cfg.quiet.start.hour == 22 and cfg.quiet.end.hour == 7


@pytest.mark.parametrize("local,held_until", [
    (datetime(2026, 11, 2, 21, 59), None),
    (datetime(2026, 11, 2, 22, 0), datetime(2026, 11, 3, 7, 0)),
    (datetime(2026, 11, 3, 3, 15), datetime(2026, 11, 3, 7, 0)),
    (datetime(2026, 11, 3, 7, 0), None),
])
def test_quiet_hours_wrap_midnight(local, held_until):
    quiet = load_config(DEFAULT_CONFIG_DIR).quiet
    got = quiet.hold_until(local.replace(tzinfo=SH))
    assert got == (held_until.replace(tzinfo=SH) if held_until else None)


@pytest.mark.parametrize("data,named", [
    ({"duty": {"x": {"rrule": "FREQ=SOMETIMES", "audience": "members"}}}, "duty.x"),
    ({"duty": {"x": {"rrule": "FREQ=DAILY", "audience": "everyone"}}}, "audience"),
    ({"jobs": {"j": {"every": "soon", "job": "gridbot.jobs.x"}}}, "jobs.j.every"),
    ({"jobs": {"j": {"rrule": "FREQ=DAILY", "job": "gridbot.jobs.x", "late": "maybe"}}}, "jobs.j.late"),
    ({"jobs": {"j": {"job": "gridbot.jobs.x"}}}, "jobs.j"),
    ({"quiet_hours": {"start": "22h"}}, "quiet_hours.start"),
])
def test_a_broken_entry_names_itself(data, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_config(data)
