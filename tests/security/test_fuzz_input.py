"""Issue 20 item 5: ordinary input never crashes; it gets the usual Chinese answer.

The attack found: `确认 99999999999999999999` (and 驳回, 解绑, 转工单, 取消提醒 with a 20-digit number) overflowed
PostgreSQL's integer columns; the schedule parser raised KeyError, IllegalMonthError and OverflowError for text like
"十一十点", "13月1日", "2147483648天后" (216 of 50,000 fuzzed expressions). Now every command reads ids through
gridbot.handlers.numbers.parse_id (a number no row can have is "not found" before any query) and the parser raises
only ScheduleError, a Refusal.

The fuzz sends every command word of the router with random, huge and odd arguments, as a resident, a member and the
secretary, and asserts: no exception escapes, nothing is logged as an error, every reply is Chinese text.
Bounded (a few hundred examples, no deadline) so it stays a unit-speed test.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridbot.errors import Refusal
from gridbot.schedule.parse import ScheduleError, parse
from tests.unit.test_schedule_parse import ERRORS, ONE_OFF, RECURRING

CJK = re.compile(r"[\u4e00-\u9fff]")
SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=SH)

HUGE = ["99999999999999999999", "2147483648", "2147483647", "4294967296", "9" * 400, "0", "00", "-1", "+7",
        "1e9", "１２", "١٢", "²", "0x10", "12.5", "3" * 19]
SCHEDULE_WORDS = ["每", "月", "第", "周", "星期", "号", "日", "点", "半", ":", "年", "季度", "天", "小时", "个", "隔",
                  "后", "下", "本", "今天", "明天", "最后一天", "倒数第", "工作日", "周末", "到", "、", "上午", "下午",
                  "晚上", "一", "二", "三", "五", "七", "十", "零", "两", "13", "24", "29", "31", "60", "2026", "9999",
                  "刻", "整", "底", "分钟", " "]
SEEDS = [r[0] for r in RECURRING] + [r[0] for r in ONE_OFF] + [r[0] for r in ERRORS]
_NUMBERS = re.compile(r"\d+|[零〇一二两三四五六七八九十]+")

numbers = st.one_of(st.sampled_from(HUGE), st.integers(min_value=-10, max_value=10**25).map(str))


@st.composite
def schedule_text(draw) -> str:
    """Real schedule phrases with their numbers swapped for odd ones, glued schedule words, or any text."""
    kind = draw(st.integers(0, 2))
    if kind == 0:
        seed = draw(st.sampled_from(SEEDS))
        odd = draw(st.lists(st.one_of(numbers, st.sampled_from(["十十", "一五零两", "二十一十", "百", "〇〇"])),
                            min_size=1, max_size=4))
        it = iter(odd)
        return _NUMBERS.sub(lambda m: next(it, m.group(0)), seed)
    if kind == 1:
        return "".join(draw(st.lists(st.one_of(st.sampled_from(SCHEDULE_WORDS), numbers), max_size=8)))
    return draw(st.text(max_size=40))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(text=schedule_text())
def test_the_schedule_parser_refuses_in_chinese_and_raises_nothing_else(text):
    try:
        s = parse(text, NOW)
    except ScheduleError as err:
        assert isinstance(err, Refusal) and CJK.search(err.text), err
        return
    s.next(NOW, count=3)


@pytest.mark.parametrize("text", ["十一十点", "每月第十一十周周二", "13月1日", "每年99月29日", "2147483648天后",
                                  "99999999999999999999小时后", "999999周后", "每99999999999999999999天",
                                  "0000年1月1日", "9" * 5000 + "号"])
def test_what_the_fuzz_found_is_refused(text):
    with pytest.raises(ScheduleError) as err:
        parse(text, NOW)
    assert CJK.search(err.value.text) and err.value.key.startswith("schedule.parse.")


# -- chat commands ----------------------------------------------------------------------------------------------
SPEAKERS = [("sec_wang", "HY-01"), ("lead_li", "HY-02"), ("mem_zhao", "HY-01"), ("mem_zhao", None),
            ("res_a", None), ("res_b", "HY-02")]


class _Errors(logging.Handler):
    """Collects what the app logs at ERROR: an unexpected error the pipeline turned into a reply still counts."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _say_and_check(bot, text: str, as_: str, chat: str | None) -> list[str]:
    errors = _Errors()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        replies = bot.say(text, as_=as_, chat=chat, private=chat is None)
    finally:
        root.removeHandler(errors)
    assert not errors.records, (text, [r.getMessage() for r in errors.records])
    for reply in replies:
        assert reply.strip() and CJK.search(reply), (text, reply)
    return replies


@pytest.fixture
def fuzz_bot(bot):
    return bot


def _words(bot) -> list[str]:
    return sorted({w for c in bot.app.router.commands for w in c.words})


def test_every_command_with_odd_arguments_gets_a_chinese_answer(fuzz_bot):
    bot = fuzz_bot
    words = _words(bot)
    assert len(words) >= 30, words
    arguments = st.one_of(
        numbers, numbers.map(lambda n: "#" + n), numbers.map(lambda n: f"{n} 原因"),
        schedule_text(), schedule_text().map(lambda s: s + " 内容"),
        st.text(max_size=30), st.sampled_from(["", "#", "##1", "HY-99999999999999999999", "HY-01", "本群",
                                               "@所有人", "\u200b", "\x00", "　", "<script>", "'; drop table x;--"]))

    @settings(max_examples=300, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(word=st.sampled_from(words), args=arguments, speaker=st.sampled_from(SPEAKERS),
           glue=st.sampled_from([" ", "", "：", " #"]))
    def run(word: str, args: str, speaker: tuple[str, str | None], glue: str) -> None:
        bot.app.clock.advance(minutes=7)   # residents are not throttled as a flood
        _say_and_check(bot, f"{word}{glue}{args}", *speaker)

    run()


def test_every_command_with_a_20_digit_number_on_postgresql(pg_bot):
    """The overflow itself: PostgreSQL's INTEGER columns refuse what SQLite stores. Each word, each form."""
    for word in _words(pg_bot):
        for args in ("99999999999999999999", "#2147483648 原因"):
            for as_, chat in (("sec_wang", "HY-01"), ("mem_zhao", None)):
                _say_and_check(pg_bot, f"{word} {args}", as_, chat)


@pytest.mark.parametrize("text", ["确认 99999999999999999999", "驳回 #99999999999999999999 不是住户",
                                  "取消提醒 2147483648", "转工单 99999999999999999999"])
def test_a_number_no_row_can_have_is_not_found(pg_bot, text):
    replies = _say_and_check(pg_bot, text, "sec_wang", "HY-01")
    assert any("没有编号为" in r for r in replies), replies
