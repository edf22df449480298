"""The learned model beside the rules (issue 19 point 4): deterministic, shipped in the package, combined with the
rules without ever losing an urgent catch of theirs, retrainable from a community's own corrections (a ticket
rejected as not a request, a category changed by a leader in the console) with `gridbot understanding train`."""
from __future__ import annotations

import json
from importlib import resources

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gridbot.cli import main
from gridbot.config import DEFAULT_CONFIG_DIR
from gridbot.models import Ticket, TicketEvent
from gridbot.understanding import MODEL_FILE, Combined, Understander, get_engine, get_model
from gridbot.understanding.corpus import evaluate, load_corpus, splits_present
from gridbot.understanding.model import (
    Model,
    TrainingExample,
    load_shipped,
    ngrams,
    normalise,
    shipped_training,
    train,
)
from gridbot.understanding.training import HELD_OUT_SPLITS, corrections, merge, retrain
from tests.console_helpers import build_world, csrf_of

# Floors a little under the figures measured on the tune split with the shipped model (bench/README.md):
# rules + model together must not fall below them.
TUNE_FLOORS = {"f1": 0.97, "category_accuracy": 0.92, "urgent_recall": 0.98, "location_accuracy": 0.95}
# false urgents as a share of the messages labelled not urgent (tune: 0.013 measured 2026-12-06, was 0.03)
FALSE_URGENT_CEILING = 0.02


@pytest.fixture(scope="module")
def rules():
    return Understander.from_config_dir(DEFAULT_CONFIG_DIR)


@pytest.fixture(scope="module")
def engine(rules):
    from gridbot.understanding import Engine

    return Engine(rules, instance_dir=None)


def small_set(n: int = 160) -> list[TrainingExample]:
    """A spread of the shipped examples (every k-th), small enough to train in a moment."""
    examples = shipped_training()
    step = max(1, len(examples) // n)
    return examples[::step]


def test_training_twice_gives_the_same_bytes_whatever_the_order_of_the_examples():
    examples = small_set()
    first = train(examples).to_bytes()
    assert train(examples).to_bytes() == first
    assert train(list(reversed(examples))).to_bytes() == first
    other = train(examples[1:]).to_bytes()
    assert other != first                      # the bytes do depend on the data


def test_the_shipped_model_loads_from_the_package_and_was_trained_on_the_shipped_examples_only():
    data = resources.files("gridbot.understanding").joinpath("data")
    assert data.joinpath("model.bin").is_file() and data.joinpath("training.tsv").is_file()
    model = load_shipped()
    examples = shipped_training()
    assert model.info["examples"] == len(examples) and model.info["corrections"] == 0
    # never trained on a held-out message
    trained_on = {normalise(ex.text) for ex in examples}
    for split in HELD_OUT_SPLITS:              # (wild is training data since 2026-12-06)
        if split not in splits_present():
            continue
        held = {normalise(ex.text) for ex in load_corpus(split)}
        assert not held & trained_on, split
    # a file round-trips, and a damaged one is refused with a reason
    assert Model.from_bytes(model.to_bytes()).to_bytes() == model.to_bytes()
    with pytest.raises(ValueError, match="model"):
        Model.from_bytes(b"not a model")


def test_the_fast_feature_extraction_gives_exactly_the_trained_n_grams():
    model = load_shipped()
    for text in [ex.text for ex in load_corpus("tune")] + ["", "a", "火", "[强]", "@网格员小李 ", "3栋"]:
        want = {model.index[g] for g in ngrams(normalise(text)) if g in model.index}
        assert model.feature_ids(text) == want, text


def test_the_model_reads_a_request_and_its_kind_on_its_own():
    model = load_shipped()
    lamp = model.predict("3栋2单元楼道灯坏了好几天了 晚上黑乎乎的 麻烦找人修一下")
    assert lamp.p_request > 0.5 and lamp.category == "repair" and lamp.p_urgent < 0.5
    thanks = model.predict("收到 谢谢网格员")
    assert thanks.p_request < 0.5


def test_the_combination_never_loses_an_urgent_catch_of_the_rules(rules, engine):
    """Over every message of the original corpus (tune, holdout, second): labelled urgent and urgent by the rules ->
    urgent together (and a request). Counts only: holdout is held out, a failing assert must not print its texts."""
    caught = lost = 0
    for ex in load_corpus("all"):
        alone = rules.understand(ex.text)
        both = engine.understand(ex.text)
        if alone.is_urgent and ex.urgency == "urgent":
            caught += 1
            lost += not (both.is_urgent and both.is_request and both.urgent_by in ("rules", "rules+model"))
        # what the rules alone know of the place, phones and title is kept
        kept = (both.location, both.phones, both.summary) == (alone.location, alone.phones, alone.summary)
        assert kept, "the rules' place, phones or summary changed (count only)"
    assert caught > 50 and lost == 0, (caught, lost)


def test_together_the_figures_on_the_tune_split_stay_above_the_measured_floors(rules, engine):
    together = evaluate(load_corpus("tune"), engine.understand)
    alone = evaluate(load_corpus("tune"), rules.understand)
    figures = together.summary()
    for key, floor in TUNE_FLOORS.items():
        assert figures[key] >= floor, (key, figures)
    assert together.urgent_found >= alone.urgent_found
    assert together.false_urgent_share <= FALSE_URGENT_CEILING, figures


def test_the_answer_says_who_decided_and_parse_json_shows_it(tmp_path):
    u = get_engine().understand("3栋2单元楼道灯坏了好几天了，麻烦来修一下")
    assert isinstance(u, Combined) and u.source in ("rules", "model") and u.category_by in ("rules", "model")
    out = CliRunner(env={"GRIDBOT_INSTANCE_DIR": str(tmp_path)}).invoke(
        main, ["parse", "--json", "3栋2单元楼道灯坏了好几天了，麻烦来修一下"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    # the old keys keep their names and meaning; the new ones say who decided and what the model thought
    assert (doc["is_request"], doc["category"], doc["location"]["building"]) == (True, "repair", "3")
    assert doc["source"] in ("rules", "model") and doc["category_by"] in ("rules", "model")
    assert 0 <= doc["model"]["request"] <= 1 and doc["urgent_by"] is None and doc["urgent_overruled"] is False


def test_retraining_with_a_correction_changes_the_corrected_messages_answer():
    base = small_set(300)
    text = "小区东门口新开了一家水果店 今天开业大酬宾 欢迎大家去看看"
    before = train(base).predict(text)
    fixed = TrainingExample(text, True, "construction", False, 5.0)
    after = retrain([fixed], base=base).predict(text)
    assert after.category == "construction" and after.p_request > 0.5
    assert (before.category, round(before.p_request, 2)) != (after.category, round(after.p_request, 2))
    # a correction replaces a shipped example with the same text, it does not sit beside it
    merged = merge([TrainingExample(text, False, None, False)], [fixed])
    assert merged == [fixed]


def leader_changes_category(world, number: str, category: str, role: str = "leader"):
    client = world.client(role)
    url = f"/console/tickets/{number}"
    token = csrf_of(client.get(url).get_data(as_text=True))
    return client.post(f"{url}/category", data={"category": category, "csrf_token": token}, follow_redirects=True)


def test_a_leader_changes_a_category_in_the_console_and_retraining_learns_from_it(bot, monkeypatch):
    world = build_world(bot)
    lamp, garbage = world.tickets["HY-01"], world.tickets["HY-03"]
    member = world.client("member")
    assert 'id="ticket-category"' not in member.get(f"/console/tickets/{lamp}").get_data(as_text=True)
    assert leader_changes_category(world, lamp, "sanitation", role="member").status_code == 403
    page = leader_changes_category(world, lamp, "sanitation").get_data(as_text=True)
    assert "已由“物业维修”改为“环境卫生”" in page
    assert leader_changes_category(world, lamp, "nonsense").get_data(as_text=True).count("请选择一个有效的类别") == 1
    # the secretary rejects the other ticket: not a matter for the grid (不予立案)
    secretary = world.client("secretary")
    url = f"/console/tickets/{garbage}"
    token = csrf_of(secretary.get(url).get_data(as_text=True))
    secretary.post(f"{url}/action", data={"action": "reject", "note": "不是工单", "csrf_token": token})
    app = bot.app
    with app.session() as s:
        tk = s.scalar(select(Ticket).where(Ticket.number == lamp))
        ev = s.scalar(select(TicketEvent).where(TicketEvent.ticket_id == tk.id,
                                                TicketEvent.action == "recategorize"))
        assert tk.category == "sanitation"
        assert (ev.actor, ev.detail) == ("member:lead_li", {"from": "repair", "to": "sanitation"})
        fixes = corrections(s)
    by_text = {ex.text: ex for ex in fixes}
    assert len(fixes) == 2
    lamp_fix = next(ex for t, ex in by_text.items() if "楼道灯" in t)
    garbage_fix = next(ex for t, ex in by_text.items() if "垃圾" in t)
    assert (lamp_fix.is_request, lamp_fix.category) == (True, "sanitation")
    assert "13812345678" not in lamp_fix.text                 # the description keeps no phone number
    assert garbage_fix.is_request is False

    # `gridbot understanding train` writes the instance's model; the app then answers with it
    import gridbot.understanding.training as training_mod

    monkeypatch.setattr(training_mod, "shipped_training", lambda: small_set(300))
    env = {"GRIDBOT_DATABASE_URL": app.settings.database_url, "GRIDBOT_INSTANCE_DIR": str(app.settings.instance_dir),
           "GRIDBOT_REDIS_URL": ""}
    out = CliRunner(env=env).invoke(main, ["understanding", "train"])
    assert out.exit_code == 0, out.output
    assert "社区更正 2 条" in out.output
    path = app.settings.instance_dir / MODEL_FILE
    assert path.is_file()
    model = get_model(app.settings.instance_dir)
    assert model.info["corrections"] == 2
    assert model.predict(garbage_fix.text).p_request < 0.5
    assert model.predict(lamp_fix.text).category == "sanitation"
    again = CliRunner(env=env).invoke(main, ["understanding", "train", "--out", str(path) + ".2"])
    assert again.exit_code == 0 and (path.parent / (MODEL_FILE + ".2")).read_bytes() == path.read_bytes()
