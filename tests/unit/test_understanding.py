"""Understanding residents' messages: the API other code uses, the CLI contract, and floors over the corpus."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from gridbot.cli import main
from gridbot.config import DEFAULT_CONFIG_DIR, ConfigError
from gridbot.understanding import CATEGORY_CODES, Understander, get_understander, understand
from gridbot.understanding.corpus import evaluate, load_corpus, splits_present

CONTRACT_KEYS = {"is_request", "category", "urgency", "location", "phones", "summary"}


def test_a_repair_request_with_address_and_phone() -> None:
    u = understand("@网格员 3号楼2单元楼道灯坏了好几天了，晚上黑乎乎的，麻烦来修一下 电话13812345678")
    assert u.is_request and u.category == "repair" and u.urgency == "normal"
    assert (u.location.building, u.location.unit, u.location.room) == ("3", "2", None)
    assert u.phones == ["13812345678"]
    assert "楼道灯" in u.summary and "13812345678" not in u.summary


@pytest.mark.parametrize("text", ["收到", "收到👍", "谢谢网格员！", "早上好☀️", "【团购接龙】砂糖橘 3栋101 两箱",
                                  "谢谢物业，电梯已经修好了[强]"])
def test_chatter_is_not_a_request(text: str) -> None:
    u = understand(text)
    assert not u.is_request and u.category is None and u.urgency == "normal"


@pytest.mark.parametrize("text", ["着火了！！5栋2单元冒烟了快来人", "我家厨房一股煤气味，头有点晕",
                                  "电梯困人了 9号楼 里面有个小孩在哭",
                                  "12栋独居的王奶奶好几天没见着了 敲门也没人应"])
def test_life_at_risk_is_urgent(text: str) -> None:
    u = understand(text)
    assert u.is_request and u.urgency == "urgent"


def test_phone_digits_are_not_taken_for_a_room() -> None:
    u = understand("下水道堵了 找我 139 1234 5678")
    assert u.phones == ["13912345678"] and u.location.is_empty


def test_summary_leaves_phone_numbers_out() -> None:
    u = understand("13812345678 楼道灯坏了，找我 0571-88886666")
    assert u.summary.startswith("楼道灯坏了") and not any(ch.isdigit() for ch in u.summary)
    assert u.phones == ["13812345678", "0571-88886666"]


def test_parse_json_contract_single() -> None:
    result = CliRunner().invoke(main, ["parse", "--json", "二十一栋三单元五零二 水管漏水"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= CONTRACT_KEYS   # fields may be added (issue 19: source, model ...), none renamed
    # issue 19 added phase and zone to the location: keys added, none renamed
    assert data["location"] == {"building": "21", "unit": "3", "room": "502", "phase": None, "zone": None}
    assert data["category"] == "repair" and data["is_request"] is True


def test_parse_json_location_has_phase_and_zone() -> None:
    result = CliRunner().invoke(main, ["parse", "--json", "二期A区c座1201 卫生间漏水"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["location"] == {"building": "C", "unit": None, "room": "1201", "phase": "2",
                                                     "zone": "A"}
    text = CliRunner().invoke(main, ["parse", "二期A区c座1201 卫生间漏水"]).output
    assert "位置：2期A区C栋1201" in text


def test_parse_json_contract_stdin_one_line_per_message_in_order() -> None:
    lines = ["收到", "3-2-101 楼上天天半夜蹦迪吵死了", "", "请问居住证怎么办理"]
    result = CliRunner().invoke(main, ["parse", "--json", "-"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert len(out) == len(lines)
    assert [o["is_request"] for o in out] == [False, True, False, True]
    assert [o["category"] for o in out] == [None, "noise", None, "consultation"]
    assert all(set(o) >= CONTRACT_KEYS for o in out)


def test_parse_needs_no_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(main, ["parse", "--json", "楼道灯不亮"])
    assert result.exit_code == 0 and json.loads(result.output)["is_request"] is True


def test_parse_with_a_broken_categories_yaml_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    shutil.copy(DEFAULT_CONFIG_DIR / "templates.yaml", tmp_path / "templates.yaml")
    (tmp_path / "categories.yaml").write_text("categories: [oops\n", encoding="utf-8")
    monkeypatch.setenv("GRIDBOT_CONFIG_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["parse", "--json", "楼道灯不亮"])
    assert result.exit_code == 2
    assert "categories.yaml" in result.output and "Traceback" not in result.output


def test_a_community_can_tune_categories_yaml(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_CONFIG_DIR / "categories.yaml", tmp_path / "categories.yaml")
    text = "小区门口那个大坑好几天了，请处理"
    assert Understander.from_config_dir(tmp_path).understand(text).category == "other"
    config = yaml.safe_load((tmp_path / "categories.yaml").read_text(encoding="utf-8"))
    config["categories"]["repair"]["keywords"]["大坑"] = 3
    (tmp_path / "categories.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    assert Understander.from_config_dir(tmp_path).understand(text).category == "repair"


def test_a_broken_categories_yaml_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "categories.yaml").write_text("categories:\n  plumbing:\n    keywords: {漏水: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="plumbing"):
        Understander.from_config_dir(tmp_path)
    (tmp_path / "categories.yaml").write_text("categories:\n  repair:\n    keywords: {漏水: lots}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="漏水"):
        Understander.from_config_dir(tmp_path)


# -- the labelled corpus (tests/data/corpus_*.tsv) -------------------------------------------------
# Floors sit a little under the measured figures (bench/README.md) so a careless edit of categories.yaml fails here.
# The held-out split was never used to choose keywords; its floors are lower and honest.

FLOORS = {
    "all": {"precision": 0.96, "recall": 0.95, "category_accuracy": 0.90, "urgent_recall": 0.95,
            "location_accuracy": 0.95},
    # Messages never used to choose a keyword (bench/README.md has the figures and how the split was kept).
    "holdout": {"precision": 0.93, "recall": 0.85, "category_accuracy": 0.77, "urgent_recall": 0.84,
                "location_accuracy": 0.90},
    # A second, independent labeller's batch (tests/data/corpus_second.tsv). Even lines (tune2) were used to tune;
    # odd lines (holdout2) were scored once, after tuning. Its urgent recall (0.788) is far under the 0.95 target.
    "tune2": {"precision": 0.97, "recall": 0.97, "category_accuracy": 0.92, "urgent_recall": 0.95,
              "location_accuracy": 0.95},
    "holdout2": {"precision": 0.88, "recall": 0.92, "category_accuracy": 0.88, "urgent_recall": 0.75,
                 "location_accuracy": 0.95},
}


def test_corpus_is_big_varied_and_honestly_split() -> None:
    everything = load_corpus("all")
    assert len(everything) >= 300
    requests = [ex for ex in everything if ex.is_request]
    assert len(everything) - len(requests) >= 0.4 * len(everything)   # chatter is most of a real group
    assert {ex.category for ex in requests} == set(CATEGORY_CODES)
    assert sum(ex.urgency == "urgent" for ex in everything) >= 40
    texts = [ex.text for ex in everything]
    assert len(set(texts)) == len(texts), "a message appears twice (maybe in both splits)"
    assert len(load_corpus("holdout")) >= 200
    second = load_corpus("second")
    assert len(second) >= 200 and sum(not ex.is_request for ex in second) >= 0.45 * len(second)
    assert sum(ex.urgency == "urgent" for ex in second) >= 50
    assert len(load_corpus("tune2")) + len(load_corpus("holdout2")) == len(second)


@pytest.mark.parametrize("split", sorted(FLOORS))
def test_corpus_floors(split: str) -> None:
    report = evaluate(load_corpus(split), get_understander(DEFAULT_CONFIG_DIR).understand)
    figures = report.summary()
    low = {name: (figures[name], floor) for name, floor in FLOORS[split].items() if figures[name] < floor}
    assert not low, f"{split}: below the floor (figure, floor): {low}"


def test_urgent_false_alarms_stay_few() -> None:
    report = evaluate(load_corpus("all"), get_understander(DEFAULT_CONFIG_DIR).understand)
    assert report.urgent_alarms <= 0.03 * report.n


def test_skipping_patterns_by_their_characters_changes_no_answer() -> None:
    """The speed-ups (a pattern runs only when the message holds one of its characters or pairs, and what else it
    needs; the negation check as str.endswith) are exact: every message of every split, answers and scores."""
    fresh = Understander.from_config_dir(DEFAULT_CONFIG_DIR)
    texts = [ex.text for split in splits_present() if split != "all" for ex in load_corpus(split)]
    texts += ["火\n", "不\n着火了", "没有\n冒烟", "防\n\n溺水", "万一\n着火"]   # `$` before a newline (negations)
    fast = [(u.to_dict(), u.scores) for u in map(fresh.understand, texts)]
    fresh._by_key, fresh._keys = {}, frozenset()
    fresh._always = tuple(range(len(fresh._all_patterns)))   # run every pattern every time
    fresh._prefilter = False
    negation_re = fresh._negation_re
    assert negation_re is not None

    def found(rx: Any, body: str) -> bool:   # the negation check as it was: the regex before each match
        return any(not any(negation_re.search(body, 0, end) for end in range(m.start(), max(m.start() - 3, 0) - 1, -1))
                   for m in rx.finditer(body))

    fresh._found = found  # type: ignore[method-assign]  # the slow reference, on this instance only
    assert [(u.to_dict(), u.scores) for u in map(fresh.understand, texts)] == fast
