"""Fewer false urgent alarms without missing an emergency (issue 19, session of 2026-12-06).

1. Never fewer urgent catches than the rules had when issue 19 was filed (tests/data/urgent_caught_c83e652.txt: the
   texts of the corpus labelled urgent that the rules at commit c83e652 called urgent, made mechanically by
   tests/data/tools/urgent_caught_c83.py): on the training splits every one stays urgent under rules + model; on
   each held-out set rules + model catch at least as many urgent messages as c83e652 did.
2. Each class of phrasing the rules now rule out (config/categories.yaml, urgent_not_now) keeps a message of the class
   normal, while its urgent twin stays urgent. The messages are written for this test, not taken from a corpus.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from gridbot.config import DEFAULT_CONFIG_DIR
from gridbot.understanding import Engine, Understander, use_instance_dir
from gridbot.understanding.corpus import load_corpus, splits_present
from gridbot.understanding.training import HELD_OUT_SPLITS, TRAINING_SPLITS

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "urgent_caught_c83e652.txt"


@pytest.fixture(scope="module")
def rules():
    return Understander.from_config_dir(DEFAULT_CONFIG_DIR)


@pytest.fixture(scope="module")
def engine(rules):
    # the shipped model: an app built by an earlier test (bootstrap) may have left its instance dir, with a small
    # retrained model, as the package's default (test_understanding_model.py run before this file lost catches so)
    use_instance_dir(None)
    return Engine(rules, instance_dir=None)


def c83e652_catches() -> set[str]:
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#") and "c83e652" in lines[0]
    return {t for t in lines if t and not t.startswith("#")}


def test_every_urgent_catch_of_the_rules_when_issue_19_was_filed_stays_urgent_on_the_training_splits(engine):
    caught = c83e652_catches()
    texts = [ex.text for split in TRAINING_SPLITS for ex in load_corpus(split) if ex.text.strip() in caught]
    assert len(texts) > 1000
    lost = [t for t in texts if not engine.understand(t).is_urgent]
    assert lost == []


@pytest.mark.parametrize("split", HELD_OUT_SPLITS)
def test_never_fewer_urgent_catches_than_the_rules_when_issue_19_was_filed_on_a_held_out_set(engine, split):
    # The issue's words on the sets nobody tuned on: rules + model catch at least as many of the urgent messages as
    # the rules at c83e652 did. (Counts only, never the texts: a failing assert would print them.)
    if split not in splits_present():
        pytest.skip(f"{split} absent")
    caught = c83e652_catches()
    urgent = [ex.text for ex in load_corpus(split) if ex.urgency == "urgent"]
    then = sum(t.strip() in caught for t in urgent)
    now = sum(engine.understand(t).is_urgent for t in urgent)
    assert now >= then, "fewer urgent catches than the rules at c83e652 (counts only)"


# (class, a message of the class that is not urgent, its urgent twin)
PAIRS = [
    ("hypothetical: 万一 / a feared accident",
     "顶楼天台的门老是开着 万一哪个小孩上去玩出事了怎么办 能不能装把锁",
     "顶楼天台上有个小孩翻到护栏外面去了 快来人"),
    ("a hazard, not an event",
     "车棚里电动车充电线乱拉 这么大的火灾隐患 一点火星就完了 能不能管管",
     "车棚里一辆电动车充电的时候烧起来了 烟很大 快来人"),
    ("chronic: every day",
     "五栋二单元的烟感报警器天天半夜乱叫 吵得睡不着 能不能换一个",
     "五栋二单元的烟感报警器一直在响 楼道里全是烟 看不清"),
    ("aftermath: compensation, mediation",
     "邻居家的狗把我女儿咬了 打了疫苗花了几百块 他们不肯赔 社区能帮忙调解吗",
     "邻居家的狗把我女儿咬了 腿上血止不住 快来人帮忙"),
    ("notices to everyone",
     "温馨提示 天干物燥 出门前记得关火关电 大家注意安全",
     "二号楼三单元有人家着火了 窗户往外冒黑烟"),
    ("hearsay",
     "有人说闻到煤气味 燃气公司的师傅来查过了 是楼下小饭馆换气罐",
     "楼道里一股煤气味 越来越浓 敲门也没人应"),
    ("figures of speech",
     "地下车库的蚊子咬死人了 能不能来消消毒",
     "地下车库有人被车撞倒了 躺着不动 快叫救护车"),
    ("jokes and similes",
     "今天雾霾大得跟着火了似的 对面楼都看不见 哈哈",
     "对面楼七层着火了 火苗都窜出窗户了"),
    ("over: already gone, the person is fine, a dream",
     "昨晚孩子发高烧 吃了药烧已经退了 谢谢各位邻居推荐的医生",
     "孩子发高烧抽起来了 叫不醒 家里没车去不了医院"),
    ("settled by someone else",
     "今日处置：九号楼一单元燃气泄漏已由燃气公司关阀维修 无人员受伤 请住户开窗通风",
     "九号楼一单元燃气泄漏了 满楼道都是味 谁家的阀门在嘶嘶响"),
    # second round (tuned on wild3, 2026-12-06)
    ("chronic: a count of times so far",
     "车棚的锁被人撬坏好几回了 我有点害怕 能不能加个摄像头",
     "车棚里现在有人正在撬锁 我有点害怕 快来人"),
    ("chronic: a harm told with 过",
     "三栋后门的台阶塌了一角 好几个老人在那扭过脚 找人修修",
     "三栋后门有个老人摔倒了 起不来 快来人"),
    ("a word holding a cue: a downpipe",
     "八栋的落水管掉了半截 水顺着墙往下淌 找人接一下",
     "八栋后面池塘有个小孩落水了 快来人"),
    ("notices headed 提醒：",
     "厨房用火提醒：炒菜时人别离开灶台 锅里的油着火了先关火再盖锅盖",
     "楼道里一辆电动车充电起火了 烟很大"),
    ("cared for already: taken to hospital, the wound seen to",
     "我婆婆上午在楼梯上摔倒了 已经送到医院了 家里的猫谁能帮忙喂两天",
     "我婆婆在楼梯上摔倒了 头流血了 叫不应 快来人"),
    ("the danger cut off",
     "七栋302厨房的水管爆了 我已经把总阀关了 麻烦明天派人来换",
     "七栋302厨房的水管爆了 总阀关不上 水哗哗往外喷"),
    ("the culprit gone",
     "刚才有人在撬车棚的锁 被我喊了一声现在已经跑了 能不能查查监控",
     "刚才有人在撬车棚的锁 现在还在撬 快来人"),
    ("luck and a near miss, 好在's kin",
     "三楼那家的孩子爬上窗台 幸好他妈妈一把拽回来了 看得我心惊",
     "三楼那家的孩子爬上窗台了 半个身子探出来 家里没大人"),
    ("a fire put out",
     "车棚里一块电池冒烟 保安拿灭火器压灭了 没烧到别的车",
     "车棚里一块电池冒烟了 越来越呛 灭不掉"),
    ("the event named as a known thing",
     "前面那栋着火那户的老人住到女儿家去了 大家有旧衣服可以捐一点",
     "前面那栋有户人家着火了 火苗窜出窗户"),
    ("赶紧 for a fix or a car to move is impatience",
     "谁的面包车堵在消防通道口 赶紧挪走 消防车进不来的",
     "消防通道口一辆面包车烧起来了 赶紧来人"),
    ("火候 is cooking",
     "我家老头子炒菜不看火候 锅底又糊了 真是的",
     "我家厨房着火了 锅里的油烧起来了"),
    # tune4 (fresh writers dev3..dev7: each class removed false urgents in at least three writers' batches)
    ("past in spoken words: 上礼拜, 前些年, 那天",
     "我爸上个礼拜在车棚门口摔了一跤 腿上还贴着膏药 那块地能不能垫平",
     "我爸在车棚门口摔了一跤 起不来 叫他也不答应"),
    ("anger or worry as a figure of speech: 火冒三丈, 气得冒烟, 原地爆炸",
     "快递又被扔在楼下了 气得我火冒三丈 能不能说说那个快递员",
     "我家电动车充电器冒烟了 一股焦味 插座也烫手"),
    ("a hazard feared: 怕它炸了, 真着起来, 一着火就全完了",
     "楼下饭店把液化气罐堆在门口晒太阳 我怕它炸了 能不能让他们挪进去",
     "楼下饭店门口的液化气罐漏气了 呲呲响 一股臭鸡蛋味"),
    ("is a standing practice safe: 安全吗, 不安全吧",
     "仓库里住了三个工人 还在里面烧液化气做饭 这样安全吗",
     "仓库里住的工人烧液化气做饭 现在一股煤气味 有人头晕 这样安全吗"),
    ("safety tips and advice to everyone: 安全提示, 提个醒, 建议大家",
     "防火安全提示：电动车不要推进楼道充电 一旦着火后果严重",
     "楼道里一辆电动车充电着火了 满楼道都是烟"),
    ("a procedure or a purchase asked after the event: 补办, 怎么申请, 哪儿买",
     "家里着火把身份证烧了 补办要带什么材料",
     "家里着火了 身份证户口本都在里面 火还在烧 快来人"),
    ("settled afterwards: 后来送医院了, 自己爬起来了, 缝了几针",
     "楼下张大爷中午在花坛边晕倒了 后来他儿子开车送医院了 大家放心",
     "楼下张大爷在花坛边晕倒了 叫不醒 谁能送医院"),
    ("a harmless explanation found: 一看是孩子在玩, 原来是在熏肉",
     "刚才听见楼上喊着火了 上去一看是孩子在玩消防员的游戏",
     "刚才听见楼上喊着火了 上去一看厨房油锅烧起来了 火很大"),
    ("a question to neighbours about what they do or would do",
     "大家说说要是家里老人突然晕倒了 身边又没人 应该先打120还是先叫邻居",
     "家里老人突然晕倒了 身边又没人 应该先打120还是先叫邻居 快来人帮忙"),
    ("chronic: 老有 / 老在, it keeps happening",
     "小孩老在湖边栏杆那玩 栏杆断了一截 掉下去就麻烦了 能不能补上",
     "湖边栏杆断了一截 有个小孩掉水里了 快来人"),
    ("救命 over a chore, homework or a bill",
     "救命 这道数学题到底怎么做 谁家孩子会",
     "救命 我家孩子被鱼刺卡住了 脸都憋紫了"),
]


@pytest.mark.parametrize(("kind", "normal", "urgent"), PAIRS, ids=[p[0] for p in PAIRS])
def test_a_message_of_the_class_stays_normal_and_its_urgent_twin_stays_urgent(rules, engine, kind, normal, urgent):
    assert not rules.understand(normal).is_urgent, (kind, normal)
    assert not engine.understand(normal).is_urgent, (kind, normal)
    assert rules.understand(urgent).is_urgent, (kind, urgent)
    assert engine.understand(urgent).is_urgent, (kind, urgent)


def test_the_usual_routine_told_against_now_keeps_a_chronic_word_from_ruling_out_danger(rules):
    # 平时天天 ... 这两天没见: the routine is what makes the silence alarming
    text = "楼上独居的王大爷平时天天早上下楼遛弯 这两天都没见着 敲门也没人应"
    assert rules.understand(text).is_urgent


def test_a_model_only_urgent_told_as_not_now_needs_the_stricter_threshold(rules):
    import gridbot.understanding as und
    from gridbot.understanding import combine
    from gridbot.understanding.model import Prediction

    told = "我家那口子又把锅烧糊了 一屋子烟 我都习惯了"          # chronic (习惯了): told as not now
    plain = "我家那口子把锅烧糊了 一屋子烟"
    assert rules.told_as_not_now(told) and not rules.told_as_not_now(plain)
    u_told, u_plain = rules.understand(told), rules.understand(plain)
    assert not u_told.is_urgent and not u_plain.is_urgent
    between = (und.MODEL_URGENT_QUIET + und.MODEL_URGENT_RULED_OUT) / 2
    p = Prediction(p_request=0.9, category="fire_hazard", p_category=0.9, p_urgent=between)
    assert combine(u_plain, p, rules, plain).is_urgent            # the model alone may raise it ...
    assert not combine(u_told, p, rules, told).is_urgent          # ... unless it is told as not now
    sure = Prediction(p_request=0.9, category="fire_hazard", p_category=0.9, p_urgent=und.MODEL_URGENT_RULED_OUT)
    assert combine(u_told, sure, rules, told).is_urgent           # ... and the model is not very sure


@pytest.mark.parametrize("text", [
    "急死了 我妈在卫生间摔倒了 叫她也不答应",           # 急死 is often real: not a figure of speech here
    "楼下有个老人热晕了 倒在路边 叫不醒",               # 热晕了 (heatstroke), unlike 我快热晕了
    "3栋二单元着火了 楼道全是烟 大家不要紧张 往楼下走",  # 不要紧张 is not 不要紧 (settled)
    # tune4: 那天 is past, but not 从那天起 / 那天开始 (not seen since then is now); 安全吗 not with a smell now;
    # 救命 over a chore, but not 怎么做急救 or 出问题了
    "楼下独居的张奶奶从那天起就没见出门 敲门也没人应",
    "那天开始就联系不上我爸了 他一个人住 电话一直打不通",
    "厨房一股煤气味 越来越浓 这样安全吗",
    "救命 孩子吃东西噎住了 怎么做急救",
    "救命 我爸出问题了 脸都紫了 怎么办",
    "有没有人跟我一样 一闻到楼道里的煤气味就头晕 现在味很大",   # a question to neighbours, but a smell now
    # a chronic or past background, then an event today or now
    "天天有人在楼道充电 今天电动车着火了 烟很大",
    "孩子老在阳台玩 现在爬到护栏外面去了",
    "上礼拜就有人在单元门口转悠 现在在撬我家门锁",
    # a harmless explanation that is none (玩打火机), a settled story and a new event now
    "上去一看是孩子在玩打火机 把窗帘点着了 火很大",
    "昨天电梯困人后来出来了 现在又有人被困在里面",
    # a fear, a tip or a question told with a danger going on
    "楼下饭店的煤气罐漏气了 呲呲响 我怕它炸了",
    "提个醒 3栋楼道里有股煤气味 大家别开灯",
    "充电的电瓶冒烟了 一着火整栋楼都完了",
    "上个礼拜就漏过气 又闻到煤气味了 头晕",
    "现在没事 就是腿断了 动不了",
    "气得我火冒三丈 他拿刀追着我砍",
    "多亏邻居发现了 我爸倒在厕所里 叫他也不答应",
    "贴了创可贴 血还是止不住 一直往外冒",
])
def test_the_words_of_a_class_that_are_often_real_do_not_rule_an_emergency_out(rules, engine, text):
    assert rules.understand(text).is_urgent, text
    assert engine.understand(text).is_urgent, text


def test_work_at_a_height_is_no_homework(rules):
    # 救命 said of homework (作业) is a figure of speech; 高空作业 is work at a height (the rules' answer; the model
    # is asked nothing here)
    assert rules.understand("救命 高空作业的工人吊在半空 绳子要断了").is_urgent


# second round: the settled words of `over` (the valve closed, taken to hospital, luckily, gone) do not silence a
# danger that goes on (`still`: 还在, 又晕, 越烧越大, a "but", more of it still there, a cry for help now)
STILL_DANGEROUS = [
    "我已经把阀门关了 但是煤气味还是很大 头有点晕",
    "小偷已经跑了 可是我老公被捅伤了 流了好多血 快叫救护车",
    "幸亏发现得早 可火越烧越大 快来人",
    "老人已经去医院了 路上又晕过去了 叫不醒",
    "好险 刚才楼上掉下来一块瓷砖 外墙还有好几块在晃",
    "太险了 有个小孩爬到窗台外面了 现在还在上面",
    "已经断电了 插座那里还在冒烟",
    "幸好我在家 我妈突然晕倒了 叫不醒 快来人",
    "着火那户还有人没出来 窗户往外冒烟",
    "漏气的事到现在没人管 楼道里的味更浓了",
    "已经拍了片子 说是骨折 现在疼得受不了",
    "老人倒在楼道里起不来 幸亏邻居听见了 叫了120还没到",
    "池塘里的孩子好险被人拉上来了 可是没呼吸了 谁会心肺复苏",
    "动手的人已经跑了 地上那个人一直流血",
    "楼道里已经断电了 我爸触电倒在地上 没反应",
    "防火提醒：现在3栋电梯困人了 里面有小孩",
    # and the chronic classes leave what happens now alone: tries that go unanswered, harm now, weather now
    "我家扭过腰的老伴今天在浴室摔倒了 起不来",
    "电话打了好几次了 都没人接 我妈一个人在家",
    "下大雨的时候地库进水了 水已经没过车轮了",
]


@pytest.mark.parametrize("text", STILL_DANGEROUS)
def test_settled_words_do_not_silence_a_danger_that_goes_on(rules, engine, text):
    assert rules.understand(text).is_urgent, text
    assert engine.understand(text).is_urgent, text


def test_the_model_veto_has_a_known_cost(rules, engine):
    # The rules still catch this one (sparks now), but the model, reading 这样安全吗 as a question, is sure it is not
    # urgent (p < MODEL_URGENT_VETO), and the combination follows it: a normal fire_hazard ticket, not an urgent one.
    # The price of the veto measured on fresh writers (bench/understanding_fresh.py): 1 catch lost for 46 false
    # urgents fewer in 3,026 messages.
    text = "这样安全吗 插座都冒火花了"
    assert rules.understand(text).is_urgent
    both = engine.understand(text)
    assert (both.is_urgent, both.urgent_overruled, both.is_request, both.category) == (False, True, True,
                                                                                       "fire_hazard")


def test_wild3_a_tuning_set_since_the_second_round_keeps_its_figures(engine):
    # measured 2026-12-06 after the second round: 6 false urgents of 565 not urgent (1.1%), urgent recall 0.980
    from gridbot.understanding.corpus import evaluate, load_corpus, splits_present

    if "wild3" not in splits_present():
        pytest.skip("corpus_wild3.tsv absent")
    report = evaluate(load_corpus("wild3"), engine.understand)
    assert report.urgent_alarms <= 0.02 * report.not_urgent, (report.urgent_alarms, report.not_urgent)
    assert report.urgent_recall >= 0.96, report.urgent_recall
