"""How the model's urgent vote joins the rules' (issue 19 points 1 and 4): the rules' urgent catch always stays; a
model-only urgent needs p >= MODEL_URGENT where the rules see some danger, and the higher MODEL_URGENT_QUIET where
they see none at all (chosen out of fold: bench/understanding_oof.py). Also: the faster segmentation gives jieba's
words exactly."""
from __future__ import annotations

import pytest

import gridbot.understanding as und
from gridbot.config import DEFAULT_CONFIG_DIR
from gridbot.understanding import Engine, Understander, Understanding, combine
from gridbot.understanding.corpus import load_corpus
from gridbot.understanding.model import Prediction

TRAINING = ("train", "dev", "tune", "tune2")


@pytest.fixture(scope="module")
def rules():
    return Understander.from_config_dir(DEFAULT_CONFIG_DIR)


def answer(urgent_score: float, rules_urgent: bool = False) -> Understanding:
    return Understanding(is_request=rules_urgent, category="fire" if rules_urgent else None,
                         urgency="urgent" if rules_urgent else "normal", location=None, phones=[], summary="",
                         scores={"category": 0.0, "request": 0.0, "chatter": 0.0, "urgent": urgent_score,
                                 "total": 0.0})


def guess(p_urgent: float) -> Prediction:
    return Prediction(p_request=0.9, category="health", p_category=0.9, p_urgent=p_urgent)


def test_the_quiet_threshold_is_stricter_than_the_other():
    assert 0.5 <= und.MODEL_URGENT < und.MODEL_URGENT_QUIET < 1.0


def test_a_model_only_urgent_needs_more_certainty_when_the_rules_see_no_danger_at_all(rules):
    between = (und.MODEL_URGENT + und.MODEL_URGENT_QUIET) / 2
    # the rules see no danger: the model alone must be very sure
    assert not combine(answer(0.0), guess(between), rules).is_urgent
    sure = combine(answer(0.0), guess(und.MODEL_URGENT_QUIET), rules)
    assert sure.is_urgent and sure.is_request and sure.urgent_by == "model"
    # the rules see some danger but not enough: the model's ordinary threshold makes it urgent
    some = combine(answer(rules.t_urgent / 2), guess(between), rules)
    assert some.is_urgent and some.urgent_by == "model"
    assert not combine(answer(rules.t_urgent / 2), guess(und.MODEL_URGENT - 0.01), rules).is_urgent
    # the rules saw danger words and ruled them out (past, over, feared, a notice): as strict as seeing none
    assert not combine(answer(rules.t_urgent + 2), guess(between), rules).is_urgent
    assert combine(answer(rules.t_urgent + 2), guess(und.MODEL_URGENT_QUIET), rules).is_urgent


def test_a_danger_told_as_past_stays_normal_together(rules):
    engine = Engine(rules, instance_dir=None)
    for text in ("说起来 上次电梯困人我也在里面 困了二十分钟 到现在心里还有阴影",
                 "如果楼道里着火了应该往上跑还是往下跑啊 我一直搞不清"):
        assert rules.understand(text).scores["urgent"] >= rules.t_urgent    # danger words the rules ruled out
        assert not engine.understand(text).is_urgent, text


def test_the_rules_urgent_stays_urgent_whatever_the_model_thinks(rules):
    for p in (0.0, 0.3, 0.99):
        both = combine(answer(rules.t_urgent + 1, rules_urgent=True), guess(p), rules)
        assert both.is_urgent and both.is_request and both.urgent_by in ("rules", "rules+model")


def test_every_urgent_catch_of_the_rules_on_the_training_splits_stays_urgent_together(rules):
    engine = Engine(rules, instance_dir=None)
    caught = 0
    for split in TRAINING:
        for ex in load_corpus(split):
            alone = rules.understand(ex.text)
            if alone.is_urgent:
                caught += 1
                both = engine.understand(ex.text)
                assert both.is_urgent and both.is_request and both.urgent_by in ("rules", "rules+model"), ex.text
    assert caught > 100


def test_the_segmentation_gives_jiebas_words_exactly(rules):
    texts = [ex.text for split in TRAINING for ex in load_corpus(split)]
    texts += ["", "  ", "abc 12 3-1-302 \r\n x#y", "C座1201室 A区", "hello世界", "9#3-601", "%._&+", "🙂 ok [强]"]
    for text in texts:
        assert rules.tokens(text) == rules.tokenizer.lcut(text, HMM=False), text
