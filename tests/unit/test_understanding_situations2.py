"""Issue 19, second round: urgent by the kind of situation, as voice input and dialect write it, and the things
that look like an emergency but are over, never real, or a memory. Short examples written for these tests, not
corpus rows."""
from __future__ import annotations

import pytest

from gridbot.config import DEFAULT_CONFIG_DIR, ConfigError
from gridbot.understanding import Understander, Understanding, get_understander


def understand(text: str) -> Understanding:
    return get_understander(DEFAULT_CONFIG_DIR).understand(text)


@pytest.mark.parametrize("text, category", [
    # a sudden collapse and what a bystander sees (homophones: 云倒 = 晕倒, 没饭应 = 没反应; Cantonese 叫唔醒)
    ("我外公看电视看着看着就歪倒了 叫他也不说话", "health"),
    ("楼下超市门口一个阿姨云倒了", "health"),
    ("3栋门口有个老伯躺着没饭应", "health"),
    ("我阿爷瞓喺床上叫唔醒", "health"),
    ("我奶奶嘴唇发紫 喘气好急", "health"),
    ("我老公穿不上气了 脸色煞白", "health"),
    ("我岳父从凳子上摔下来 后脑勺着地", "health"),
    ("我家小孩吃了一把药片 不知道是什么药", "health"),
    ("屋里烧着炭盆 一家人都头晕想吐", "health"),
    ("有个小男孩掉进小区鱼塘里了", "health"),
    # a person alone, not seen or not answering (assistance)
    ("楼上的老太太四天没开灯了 敲门没人应", "assistance"),
    ("对面独居的王伯门口的牛奶挂了一串", "assistance"),
    ("我舅舅一个人在屋里 电话不接门也不开", "assistance"),
    # a person in danger from a height or from another person (security)
    ("11栋天台上有个女的 喊着要跳", "security"),
    ("有个伢儿骑在阳台护栏上 屋里没大人", "security"),
    ("一个男的揪着个女孩头发往车里塞", "security"),
    ("停车场两个人干起来了 一个拎着砍刀", "security"),
    # smoke and gas as voice input writes them (冒眼 = 冒烟, 煤起 = 煤气) or told by the smell
    ("2单元楼道冒眼了", "fire_hazard"),
    ("隔壁烟从门缝往外窜 敲门没人", "fire_hazard"),
    ("厨房里一股煤起味 头有点晕", "fire_hazard"),
    ("走廊里的味道像坏掉的鸡蛋", "fire_hazard"),
    # the building itself (repair): a lift as voice input writes it, water at the wiring, a wall about to fall
    ("我在点梯里出不来了", "repair"),
    ("楼上漏水 水顺着吊灯往下滴 灯还亮着", "repair"),
    ("配电间进水了 电箱在冒火花", "repair"),
    ("小区围墙被大雨冲倒了 剩下一截还在晃", "repair"),
    # more spellings of the same situations
    ("我爷爷在厕所云过去了", "health"),
    ("阿伯喺街市晕低咗", "health"),
    ("我妈在菜场门口遭电动车撞了", "health"),
    ("不得了 后头那排房子走水了", "fire_hazard"),
    ("楼下着活了 好多人在跑", "fire_hazard"),
    ("隔壁门缝里往外冒黑眼 敲门没人", "fire_hazard"),
    ("我在电题里卡住了 两层中间 按铃没人理", "repair"),
    ("宝宝把硬币吞下去了 一直在咳", "health"),
    ("我儿子被狗咬了 腿上好几个血窟窿", "health"),
    ("楼上漏水 我家电线都泡水里了", "repair"),
])
def test_a_situation_is_urgent_in_its_category(text: str, category: str) -> None:
    u = understand(text)
    assert u.is_request and u.urgency == "urgent" and u.category == category, (text, u.category, u.scores)


@pytest.mark.parametrize("text", [
    "我妈胃疼得厉害 打车打不到 谁能开车送一下",     # nobody to drive: assistance, and urgent from the illness
    "孩子高烧抽搐 家里莫得人开车",
])
def test_no_one_to_drive_a_sick_person_is_urgent_assistance(text: str) -> None:
    u = understand(text)
    assert u.urgency == "urgent" and u.category == "assistance", (text, u.category, u.scores)


@pytest.mark.parametrize("text", [
    "刚才楼道里那个火我已经扑灭了",                       # over
    "刚才晕倒的那位大爷已经醒过来了 家里人接回去了",       # over
    "刚刚说阳台上有小孩 是我看错了 不好意思",             # never real
    "那股臭鸡蛋味是下水道返味 不是燃气",                  # never real
    "燃气安全小知识：闻到臭鸡蛋味马上开窗",               # a safety tip
    "假如被困电梯 应该怎么自救",                          # hypothetical
    "我怕哪天我妈一个人在家摔了没人知道",                 # feared
    "小时候我们村着过一次大火 想起来都怕",                # a memory
    "谁家有打气筒 电动车轮胎没气了",                      # 没气 of a tyre is no one's breath
    "我在厂里干着活了一天 累死了",                        # 干着活 is work, not 着火
])
def test_over_never_real_feared_or_remembered_is_no_emergency(text: str) -> None:
    u = understand(text)
    assert u.urgency == "normal" and not u.is_request, (text, u.scores)


def test_over_but_burning_again_stays_urgent() -> None:
    assert understand("刚才扑灭了 现在又冒烟了 3栋楼道").urgency == "urgent"


def test_over_with_an_ask_is_still_a_request() -> None:
    u = understand("楼道的火已经扑灭了 墙熏黑了 能不能来人看看线路")
    assert u.is_request and u.urgency == "normal"


@pytest.mark.parametrize("text", [
    "路灯不亮好几天了 晚上黑灯瞎火的 能不能修",    # 黑灯瞎火 is no fire
    "消火栓箱里是空的 水带都没有",                  # 消火栓 is no fire
    "热水器点不着火 找谁修",                         # a heater that will not light is no fire
    "门口的青菜摊 菜臭了好几天了",                   # spoilt vegetables are no sign of a person alone
    "电梯按铃没人理 这个铃是不是坏了 能修一下吗",    # a bell no one answers, with no one trapped
    "冬天用炭火取暖要开窗通风",                       # 炭火 is no fire
])
def test_fire_and_alone_look_alikes_are_not_urgent(text: str) -> None:
    assert understand(text).urgency == "normal", (text, understand(text).scores)


@pytest.mark.parametrize("text, category", [
    ("上周说的楼上噪音 今晚又开始了", "noise"),          # a follow-up saying it is back is a request
    ("请问社区周日开门吗", "consultation"),               # a question to the office
    ("老年助餐怎么报名", "consultation"),
])
def test_follow_ups_and_questions_to_the_office_are_requests(text: str, category: str) -> None:
    u = understand(text)
    assert u.is_request and u.category == category, (text, u.category, u.scores)


def test_urgent_situations_are_checked_when_loaded() -> None:
    import yaml

    config = yaml.safe_load((DEFAULT_CONFIG_DIR / "categories.yaml").read_text(encoding="utf-8"))
    for bad in ([{"category": "health", "pattern": "叫不醒("}], [{"category": "nonsense", "pattern": "叫不醒"}],
                [{"category": "health"}], {"category": "health"}):
        config["urgent_situations"] = bad
        with pytest.raises(ConfigError, match="urgent_situations"):
            Understander(config)
    config["urgent_situations"] = [{"category": "health", "pattern": "叫唔醒", "weight": 3, "urgent": 3}]
    u = Understander(config).understand("阿婆叫唔醒")
    assert u.urgency == "urgent" and u.category == "health"
    config["urgent_situations"] = []        # without the entry the Cantonese is not understood
    assert Understander(config).understand("阿婆叫唔醒").urgency == "normal"


def test_a_pattern_is_split_only_at_its_top_level_bars() -> None:
    from gridbot.understanding.understander import _branches

    assert _branches(r"a|b(c|d)|[|x]y|\|z|[^]|]w") == ["a", "b(c|d)", "[|x]y", r"\|z", "[^]|]w"]
