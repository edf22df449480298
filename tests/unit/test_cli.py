"""The `gridbot` command as a newcomer meets it: --help, `say` in a demo grid chat, `grids list --json`,
and one clear line when a setting is wrong."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridbot import migrate
from gridbot.cli import main

DEMO_XLSX = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo-roster.xlsx"


@pytest.fixture
def env(tmp_path):
    return {"GRIDBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
            "GRIDBOT_INSTANCE_DIR": str(tmp_path / "instance"), "GRIDBOT_REDIS_URL": ""}


@pytest.fixture
def demo_env(env):
    """A database with the demo roster, loaded the way a clerk would load it."""
    migrate.upgrade(env["GRIDBOT_DATABASE_URL"])
    result = CliRunner(env=env).invoke(main, ["import", "roster", str(DEMO_XLSX)])
    assert result.exit_code == 0, result.output + result.stderr
    return env


def test_help_lists_the_commands_a_newcomer_needs():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "say", "console", "serve", "import", "grids", "db", "worker"):
        assert f"  {command}" in result.output


def test_import_help_explains_the_roster_format():
    result = CliRunner().invoke(main, ["import", "roster", "--help"])
    assert result.exit_code == 0
    assert "网格 / 成员 / 住户" in result.output and "--dry-run" in result.output


def test_say_help_in_a_demo_grid_chat_lists_the_speakers_commands(demo_env):
    runner = CliRunner(env=demo_env)
    member = runner.invoke(main, ["say", "--chat", "chat-xf-01", "--as", "xf_zhang", "帮助"])
    resident = runner.invoke(main, ["say", "--chat", "chat-xf-01", "--as", "res_guest", "帮助"])
    assert member.exit_code == 0 and resident.exit_code == 0, member.output + member.stderr
    assert "张敏，您好" in member.output                     # the member is recognised from the roster
    assert "[私信 → xf_zhang]" in member.output               # the members' list is not posted to the group
    assert "网格小助手" in resident.output and "张敏" not in resident.output

    def names(output: str) -> set[str]:
        return {line[2:].split("：")[0] for line in output.splitlines() if line.startswith("· ")}

    assert names(resident.output) - {"帮助"} <= names(member.output)  # staff see at least what residents see


def test_say_json_gives_replies_for_scripts(demo_env):
    result = CliRunner(env=demo_env).invoke(main, ["say", "--json", "--chat", "chat-xf-02", "--as", "xf_huang",
                                                   "帮助"])
    replies = json.loads(result.output)
    assert replies and "私信" in replies[0]["text"] and replies[0]["to_user"] is None
    assert "黄磊" in replies[1]["text"] and replies[1]["to_user"] == "xf_huang"


def test_grids_list_json_has_the_documented_keys(demo_env):
    result = CliRunner(env=demo_env).invoke(main, ["grids", "list", "--json"])
    assert result.exit_code == 0
    grids = json.loads(result.output)
    assert all(set(g) == {"code", "name", "level", "parent", "chat_ids", "households"} for g in grids)
    by_code = {g["code"]: g for g in grids}
    assert by_code["XF"]["level"] == 1 and by_code["XF"]["parent"] is None
    assert by_code["XF-01"] == {"code": "XF-01", "name": "第一网格", "level": 2, "parent": "XF",
                                "chat_ids": ["chat-xf-01"], "households": 75}
    assert sum(g["households"] for g in grids) == 300


def test_a_wrong_setting_stops_with_one_line_naming_it(env):
    result = CliRunner(env={**env, "GRIDBOT_TIMEZONE": "Mars/Base"}).invoke(main, ["grids", "list"])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "GRIDBOT_TIMEZONE" in lines[0] and "Mars/Base" in lines[0]
    assert "Traceback" not in result.output + result.stderr


def test_an_unmigrated_database_says_what_to_run(env):
    result = CliRunner(env=env).invoke(main, ["say", "--chat", "chat-xf-01", "--as", "xf_zhang", "帮助"])
    assert result.exit_code != 0
    assert "gridbot db upgrade" in result.stderr and "gridbot demo" in result.stderr


def test_the_worker_loads_understanding_before_forking_work_horses(sqlite_app):
    """RQ forks a process per job: what the parent has loaded, every job inherits (bench: p50 3.8 s -> 0.6 s)."""
    import gridbot.understanding as understanding
    from gridbot.cli.serve import warm_up
    from gridbot.understanding import get_understander

    understanding._cache.clear()  # as in a fresh worker process
    warm_up(sqlite_app)
    assert get_understander(sqlite_app.settings.config_dir).tokenizer.initialized
