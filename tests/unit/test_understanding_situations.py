"""Issue 19: urgent by situation rather than by alarm word, and residents' real writing (no punctuation, emoji,
homophones, indirect asks, follow-ups, patrol posts, ads). Short examples written for these tests, not corpus rows."""
from __future__ import annotations

import pytest

from gridbot.config import DEFAULT_CONFIG_DIR, ConfigError
from gridbot.understanding import Understander, Understanding, get_understander


def understand(text: str) -> Understanding:
    return get_understander(DEFAULT_CONFIG_DIR).understand(text)


@pytest.mark.parametrize("text", [
    # a fire being fought at home
    "厨房油锅烧起来了 我老公拿锅盖盖着 灭不掉",
    "阳台上的纸箱子烧起来了我们正在端水浇",
    # a medical emergency with no transport
    "我老伴肚子疼得直打滚 家里没车 打不到车 怎么去医院",
    "我妈发高烧说胡话了 儿女都不在身边 没人送她去医院",
    # a fall, written as voice input and dialect write it
    "我爸在卫生间衰倒了 自己起不来",
    "奶奶在楼梯上摔到了 腿动不了",
    "婆婆绊倒在厨房 头磕到桌角了",
    # a person who does not respond
    "隔壁李大爷屋里灯亮着 敲了半天门没人答应",
    "我妈一个人在家 电话打了十几个都没人接",
    "楼下老太太坐在椅子上 喊她也不答应",
    # a child at a height
    "5栋有个小孩爬到窗台外面了",
    "有个小朋友坐在防盗窗外面 家里好像没大人",
    # gas, described without 煤气/燃气
    "楼道里一股臭鸡蛋味 越来越重",
    "厨房灶那边一直嘶嘶响",
    # trapped, no one answering
    "卫生间门锁坏了 我出不去 家里没人 喊了半天没人应",
])
def test_danger_told_as_a_situation_is_urgent(text: str) -> None:
    u = understand(text)
    assert u.is_request and u.urgency == "urgent", (text, u.scores)


@pytest.mark.parametrize("text, category", [
    ("我老伴肚子疼得直打滚 家里没车 打不到车 怎么去医院", "assistance"),   # no one to take them: assistance
    ("5栋有个小孩爬到窗台外面了", "security"),                              # a child at a height: security
    ("楼道里一股臭鸡蛋味 越来越重", "fire_hazard"),                        # gas however described: fire_hazard
    ("我爸在卫生间衰倒了 自己起不来", "health"),
])
def test_urgent_situations_land_in_the_guide_s_category(text: str, category: str) -> None:
    assert understand(text).category == category


@pytest.mark.parametrize("text", [
    "上个月我爸在楼下摔倒过 那里的台阶能不能修一下",       # past
    "去年冬天2单元煤气泄漏过 今年大家要注意",             # past
    "以前楼下的老人摔倒过好几次 这个坡太滑了",             # past, repeated
    "楼道里常年堆纸箱 万一着火怎么办",                     # chronic and feared
    "担心小孩爬窗台 能不能给装个防护栏",                   # feared
    "单元门口台阶坏了 老人走路容易绊倒",                   # feared
    "车被堵在车库出不去 打电话没人接",                     # a blocked car is no one trapped
    "我家孩子发烧了 请问社区医院几点开门",                 # ill, but no emergency
])
def test_past_chronic_or_feared_events_are_not_urgent(text: str) -> None:
    assert understand(text).urgency == "normal", (text, understand(text).scores)


def test_now_wins_over_a_past_word() -> None:
    # 昨天 alone would make it a past event; 现在还在 says it is happening now
    u = understand("昨天晚上开始冒烟 现在还在冒 5栋楼道")
    assert u.urgency == "urgent"


@pytest.mark.parametrize("text, category", [
    ("3栋门口的路灯坏了好久了能不能找人看看", "repair"),              # indirect ask, no punctuation
    ("垃圾桶满了好几天都溢出来了 这个也该有人处理了吧", "sanitation"),  # indirect ask
    ("上周报的水管怎么还没人来修", "repair"),                            # follow-up: same category as the report
    ("前几天反映的楼道灯到现在还没修好", "repair"),                      # follow-up
    ("物业真是太负责了 电梯坏了一个月了[微笑]", "repair"),              # sarcasm with a [表情] tag
    ("楼上漏水漏到我家了😭😭 谁管管啊", "repair"),                       # emoji
    ("请问老年卡在哪里办理 需要带什么", "consultation"),                # a question to the office
])
def test_real_writing_requests(text: str, category: str) -> None:
    u = understand(text)
    assert u.is_request and u.category == category, (text, u.category, u.scores)


@pytest.mark.parametrize("text", [
    "今日巡查3栋消防通道畅通 无异常",                   # a member's own patrol post
    "【温馨提示】天气干燥 请大家注意用火用电安全",      # a forwarded safety notice
    "专业开锁换锁 疏通下水道 电话联系",                 # an ad
    "家政保洁 擦玻璃 价格实惠 微信同号",                # an ad
    "谁家有打气筒借用一下",                             # a question to neighbours
    "明天上午9点到12点停水 请大家提前储水",             # a notice
])
def test_posts_notices_ads_and_neighbour_questions_are_chatter(text: str) -> None:
    assert not understand(text).is_request, (text, understand(text).scores)


def test_a_follow_up_that_says_it_is_fixed_stays_chatter() -> None:
    assert not understand("昨天说的那个漏水 楼上已经找人修了 现在不漏了").is_request


def test_urgent_not_now_is_checked_when_loaded(tmp_path) -> None:
    import yaml

    config = yaml.safe_load((DEFAULT_CONFIG_DIR / "categories.yaml").read_text(encoding="utf-8"))
    config["urgent_not_now"] = {"pattern": "昨天(", "unless": "现在"}
    with pytest.raises(ConfigError, match="urgent_not_now"):
        Understander(config)
    config["urgent_not_now"] = {}          # without it, a past fire is urgent again (the veto is the config's)
    assert Understander(config).understand("昨天3栋着火了 烧得很厉害").urgency == "urgent"
