"""How the model's urgent vote joins the rules' (issue 19 points 1 and 4): the rules' urgent catch stays unless the
model is sure it is not urgent (p < MODEL_URGENT_VETO); a model-only urgent needs p >= MODEL_URGENT where the rules
see some danger and MODEL_URGENT_QUIET where they see none, MODEL_URGENT_RULED_OUT where the message is told as not
now (tests/unit/test_understanding_false_urgents.py; see the comment in gridbot/understanding/__init__.py for how
they were chosen). Also: the faster segmentation gives jieba's words exactly."""
from __future__ import annotations

import pytest

import gridbot.understanding as und
from gridbot.config import DEFAULT_CONFIG_DIR
from gridbot.understanding import Engine, Understander, Understanding, combine
from gridbot.understanding.corpus import load_corpus
from gridbot.understanding.model import Prediction
from gridbot.understanding.training import TRAINING_SPLITS

TRAINING = TRAINING_SPLITS   # wild and dev2 too since 2026-12-06


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


def test_a_model_only_urgent_needs_the_models_threshold_whatever_the_rules_saw(rules):
    # the rules see no danger, some danger, or danger they ruled out: the model's own p decides a model-only urgent
    for score in (0.0, rules.t_urgent / 2, rules.t_urgent + 2):
        sure = combine(answer(score), guess(und.MODEL_URGENT_QUIET), rules, None)
        assert sure.is_urgent and sure.is_request and sure.urgent_by == "model"
        assert not combine(answer(score), guess(min(und.MODEL_URGENT, und.MODEL_URGENT_QUIET) - 0.01),
                           rules, None).is_urgent


def test_a_danger_told_as_past_is_ruled_out_by_the_rules(rules):
    # The rules rule these out. Together the model may still raise one, when it is very sure (p >=
    # MODEL_URGENT_RULED_OUT: the message is told as not now; see __init__.py).
    for text in ("说起来 上次电梯困人我也在里面 困了二十分钟 到现在心里还有阴影",
                 "如果楼道里着火了应该往上跑还是往下跑啊 我一直搞不清"):
        assert rules.understand(text).scores["urgent"] >= rules.t_urgent    # danger words the rules ruled out
        assert not rules.understand(text).is_urgent, text
        assert rules.told_as_not_now(text), text


def test_the_rules_urgent_stays_urgent_unless_the_model_is_sure_it_is_not(rules):
    for p in (und.MODEL_URGENT_VETO, 0.3, 0.99):
        both = combine(answer(rules.t_urgent + 1, rules_urgent=True), guess(p), rules, None)
        assert both.is_urgent and both.is_request and both.urgent_by in ("rules", "rules+model")
        assert not both.urgent_overruled
    for p in (0.0, und.MODEL_URGENT_VETO - 0.01):
        both = combine(answer(rules.t_urgent + 1, rules_urgent=True), guess(p), rules, None)
        # overruled: a normal request (the rules saw one), and the answer says who overruled whom
        assert not both.is_urgent and both.is_request and both.urgent_by == "" and both.urgent_overruled
    # ... a request even where the model doubts that too: a person still reads the danger words, as a normal ticket
    doubtful = Prediction(p_request=0.05, category="health", p_category=0.9, p_urgent=0.0)
    both = combine(answer(rules.t_urgent + 1, rules_urgent=True), doubtful, rules, None)
    assert (both.is_urgent, both.is_request, both.source, both.urgent_overruled) == (False, True, "rules", True)


def test_every_urgent_catch_of_the_rules_on_the_training_splits_stays_urgent_together(rules):
    # (a catch: labelled urgent; the rules' false alarms are what the veto may overrule)
    engine = Engine(rules, instance_dir=None)
    caught = 0
    for split in TRAINING:
        for ex in load_corpus(split):
            alone = rules.understand(ex.text)
            if alone.is_urgent and ex.urgency == "urgent":
                caught += 1
                both = engine.understand(ex.text)
                assert both.is_urgent and both.is_request and both.urgent_by in ("rules", "rules+model"), ex.text
    assert caught > 100


def test_the_segmentation_gives_jiebas_words_exactly(rules):
    texts = [ex.text for split in TRAINING for ex in load_corpus(split)]
    texts += ["", "  ", "abc 12 3-1-302 \r\n x#y", "C座1201室 A区", "hello世界", "9#3-601", "%._&+", "🙂 ok [强]"]
    for text in texts:
        assert rules.tokens(text) == rules.tokenizer.lcut(text, HMM=False), text
