"""Template part of tests/data/corpus_train.tsv (writer A, issue 19).

The corpus is mostly written by hand, one row at a time; this script adds the combinatorial part (at most a third
of the file): the same problems under many address forms, grid members' routine posts, group-buy lines and a few
situational emergencies, each rendered in a random style (voice-to-text, elderly spacing, emoji, dialect, @-mention).
It is deterministic (fixed seed).

    python3 tests/data/tools/gen_train.py            # print the generated rows (TSV, no header)
    python3 tests/data/tools/gen_train.py --write    # drop the rows this script made from corpus_train.tsv
                                                     # (exact text match) and append them afresh

Labels follow tests/data/LABELLING.md.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

SEED = 19
COUNT = 1000
CORPUS = Path(__file__).resolve().parents[1] / "corpus_train.tsv"

DIG = "零一二三四五六七八九"
Row = tuple[str, str, str, str, str, str, str, str, str]


def cn_num(n: int) -> str:
    """Chinese number as spoken: 11 -> 十一, 23 -> 二十三."""
    if n < 10:
        return DIG[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else DIG[tens]) + "十" + (DIG[ones] if ones else "")


def cn_digits(n: int) -> str:
    """Digits read one by one: 601 -> 六零一."""
    return "".join(DIG[int(c)] for c in str(n))


class Addr:
    """A random address and one written form of it, with its normalised labels."""

    def __init__(self, rnd: random.Random) -> None:
        self.b = str(rnd.randint(1, 32))
        self.u = str(rnd.randint(1, 6))
        floor = rnd.randint(1, 18)
        self.r = f"{floor}{rnd.randint(1, 4):02d}"
        self.ph = "-"
        self.z = "-"
        kind = rnd.choice(["full", "full", "full", "bu", "b", "br", "tower", "cn", "phase", "zone", "dash",
                           "hash", "door"])
        b, u, r = self.b, self.u, self.r
        lou = rnd.choice(["号楼", "栋", "幢", "号楼", "栋"])
        if kind == "full":
            self.text = f"{b}{lou}{u}单元{r}"
        elif kind == "bu":
            self.text, self.r = f"{b}{lou}{u}单元", "-"
        elif kind == "b":
            self.text, self.u, self.r = f"{b}{lou}", "-", "-"
        elif kind == "br":
            self.text, self.u = f"{b}{lou}{r}", "-"
        elif kind == "dash":
            self.text = f"{b}-{u}-{r}"
        elif kind == "hash":
            self.text = rnd.choice([f"{b}#{u}-{r}", f"{b}#{u}单元{r}"])
        elif kind == "door":
            self.text = f"{b}号楼{u}门{r}"
        elif kind == "tower":
            letter = rnd.choice("ABCDEF")
            self.b, self.u = letter, "-"
            self.text = f"{rnd.choice([letter, letter.lower()])}座{r}"
        elif kind == "cn":
            n = int(b)
            self.text = rnd.choice([
                f"{cn_num(n)}号楼{cn_num(int(u))}单元{cn_digits(int(r))}",
                f"{cn_num(n)}栋{cn_num(int(u))}单元{cn_digits(int(r))}",
                f"{cn_num(n)}号楼{cn_num(int(u))}单元",
            ])
            if self.text.endswith("单元"):
                self.r = "-"
        elif kind == "phase":
            self.ph = str(rnd.randint(1, 4))
            self.text = rnd.choice([f"{cn_num(int(self.ph))}期{b}{lou}{u}单元{r}", f"{cn_num(int(self.ph))}期{b}{lou}"])
            if not self.text.endswith(r):
                self.u, self.r = "-", "-"
        else:  # zone
            self.z = rnd.choice(["A", "B", "C", "东", "西", "南", "北"])
            self.text = rnd.choice([f"{self.z}区{b}{lou}{u}单元{r}", f"{self.z}区{b}{lou}"])
            if not self.text.endswith(r):
                self.u, self.r = "-", "-"

    def labels(self) -> tuple[str, str, str, str, str]:
        return self.b, self.u, self.r, self.ph, self.z


# Problems: (category, text with {a} for the address, {x} for a distractor that is not a place)
PROBLEMS = [
    ("repair", "{a}楼道灯坏了 晚上黑乎乎的"), ("repair", "{a}的电梯又不动了 {x}"),
    ("repair", "{a}卫生间往楼下渗水"), ("repair", "{a}单元门门禁坏了 刷卡没反应"),
    ("repair", "{a}下水道堵了 返味"), ("repair", "{a}暖气不热 家里冷"),
    ("repair", "{a}家里水龙头关不紧 一直滴"), ("repair", "{a}楼顶漏水 墙都泡了"),
    ("repair", "{a}电题按钮按了没反应"), ("repair", "{a}楼到灯一闪一闪的"),
    ("sanitation", "{a}门口的垃圾好几天没人收了"), ("sanitation", "{a}楼道里一股臭味 像是垃圾烂了"),
    ("sanitation", "{a}化粪池冒出来了"), ("sanitation", "{a}家里老鼠多 能不能消杀"),
    ("fire_hazard", "{a}楼道里有人给电动车充电 线从窗户拉下来"), ("fire_hazard", "{a}楼道堆满纸箱 堵了消防通道"),
    ("fire_hazard", "{a}的灭火器都过期了"), ("security", "{a}楼下电动车电瓶被偷了"),
    ("security", "{a}楼上往下扔垃圾 差点砸到人"), ("security", "{a}有陌生人挨家敲门 {x}"),
    ("noise", "{a}半夜还在装修 电钻声吵死了"), ("noise", "{a}楼上天天半夜蹦迪一样"),
    ("noise", "{a}家的狗从早叫到晚"), ("dispute", "{a}和楼上因为漏水吵了好几次 协商不了"),
    ("dispute", "{a}对门把杂物堆在公共走廊 说了不听"), ("construction", "{a}一楼在院子里私搭棚子"),
    ("construction", "{a}顶楼在楼顶加盖房子"), ("parking", "{a}楼下有辆车停了一个多月 {x}"),
    ("parking", "{a}单元门口天天被车堵着 {x}"), ("assistance", "{a}独居的老人腿脚不好 想申请助餐"),
    ("repair", "{a}的水管冻裂了 在渗水"),
    ("repair", "{a}楼顶防水坏了 一下雨就漏"), ("sanitation", "{a}楼下的污水井冒水 一股臭味"),
    ("noise", "{a}楼下的空调外机嗡嗡响 整夜睡不着"), ("parking", "{a}门口的僵尸车落满了灰 {x}"),
    ("security", "{a}监控坏了好久 上次丢车都查不到"), ("construction", "{a}楼下有人占道摆摊 路都堵了"),
    ("fire_hazard", "{a}的消防栓里是空的 水带都没有"),
    ("assistance", "{a}家里老人瘫痪在床 白天没人照顾 想请社区帮帮忙"),
    ("health", "{a}家里老人摔了一跤 腿疼 能走 想请社区医生看看"),
]
DISTRACTORS = ["我在5楼", "车牌浙A8K2Z5", "停在2号门旁边", "就在3路车站对面", "我在三楼", "北门那边也一样",
               "电话13800000000", "从12楼到18楼都这样", "上午9点到现在", "车牌苏E·7Q3M1", "快递放在1号门岗亭"]
ASKS = ["麻烦来看看", "能不能找人处理一下", "有没有人管管", "谁来管管啊", "这个也该有人处理了吧", "请尽快处理",
        "麻烦网格员协调一下", "啥时候能弄好", "咋整啊", "能派个人来不", "拜托了🙏", "[流泪]", "物业真是太负责了[微笑]",
        "上周就报过了 怎么还没人来", "都等三天了"]

URGENT = [
    ("health", "{a}我妈{fall}了 起不来 叫她也不太应"), ("health", "{a}老人在卫生间{fall}了 头上有血 快来人"),
    ("health", "{a}我爸突然说不出话 嘴也歪了"), ("health", "{a}家里老人晕过去了 叫不醒"),
    ("assistance", "{a}的独居大爷好几天没见人了 敲门没反应"), ("assistance", "{a}老人突然发高烧 家里没车 打不到车"),
    ("fire_hazard", "{a}屋里冒烟了 有焦味 {x}"), ("fire_hazard", "{a}楼道里一股臭鸡蛋味 越来越重"),
    ("fire_hazard", "{a}家里{gas}味好大 灶是关着的"), ("fire_hazard", "{a}厨房锅烧起来了 用水泼了还在烧"),
    ("repair", "{a}{lift}卡住了 里面有人 警铃按了没人应"), ("repair", "{a}水管爆了 水淌到电箱上了"),
    ("security", "{a}有个小孩坐在窗台上 腿在外面 大人不在"), ("security", "{a}楼下有人拿刀打架"),
    ("health", "{a}我爸{fall}在卫生间 门锁着 只听见哼哼"), ("health", "{a}孩子烧得抽起来了 眼睛往上翻"),
    ("health", "{a}楼道里躺着一个人 叫他不醒"), ("assistance", "{a}我妈一个人住 从昨天起电话就没人接"),
    ("assistance", "{a}老两口都病倒了 下不了楼 子女不在身边"), ("fire_hazard", "{a}电动车在楼道里冒烟 噼啪响"),
    ("fire_hazard", "{a}屋里有股怪味 跟{gas}一个味 头晕"), ("fire_hazard", "{a}阳台上的东西烧起来了 端水在泼"),
    ("repair", "{a}天花板哗哗往下流水 流到插座上了"), ("repair", "{a}{lift}停在两层中间 里面小孩在哭"),
    ("security", "{a}有人在撬门 我在屋里不敢出声"), ("security", "{a}对面阳台有个小孩爬到栏杆外面了"),
]
FALL = ["摔倒", "衰倒", "摔到", "摔了", "衰了一跤", "跌倒"]
GAS = ["煤气", "没气", "液化气", "燃气"]
LIFT = ["电梯", "电题", "电体"]
URGENT_TAIL = ["快来人", "怎么办啊", "谁能帮忙", "急", "求助", "", "在线等"]

PATROL = ["今日巡查：{a}消防通道畅通 灭火器在有效期内", "巡查记录：{a}楼道杂物已清理",
          "今天走访了{a}的独居老人 身体状况良好", "{a}楼道灯已修复 感谢物业配合",
          "通知：明天上午{a}停水检修 请提前储水", "{a}电梯年检 今天下午暂停使用",
          "网格员提醒：{a}楼下的僵尸车已通知车主移走",
          "{a}的下水道已经疏通好了 大家放心使用"]
CHAT = ["接龙：{a} 草莓2份", "接龙 {a} 大米一袋", "{a}出租 两室一厅 有意私聊", "谢谢网格员 {a}的灯修好了",
        "收到 {a}已通知到位", "{a}今天有人搬家 车停一会儿就走 见谅", "谁家的快递放错了 在{a}门口",
        "{a}的邻居们 周末一起包饺子啊", "我是{a}的 刚进群 大家好", "昨天{a}着过火 已经没事了 大家别担心",
        "{a}去年冬天电梯困过人 后来换了新的",
        "{a}的电梯已经修好了 谢谢物业", "明天上午{a}消防演练 会有烟雾 请勿惊慌", "{a}的老人上周摔过一跤 现在已经好了",
        "{a}有人家请客 今晚可能有点吵 大家担待", "我是{a}的 家里有多的花盆 谁要", "{a}楼下的桂花开了 好香"]

STYLES = ["plain", "plain", "at", "emoji", "voice", "elderly", "dialect", "punct"]


def style(rnd: random.Random, text: str) -> str:
    kind = rnd.choice(STYLES)
    if kind == "at":
        return rnd.choice(["@网格员小李 ", "@物业客服 ", "@网格员 ", "@王姐 "]) + text
    if kind == "emoji":
        return text + rnd.choice(["😡", "[捂脸]", "🙏🙏", "😭", "[强]", "[流泪]", "😓"])
    if kind == "voice":
        return text.replace(" ", "").replace("，", "")
    if kind == "elderly":
        return "您好 网格员同志 " + " ".join(text.split())
    if kind == "dialect":
        return text + rnd.choice([" 咋整", " 啥子时候来嘛", " 侬晓得伐", " 搞么子嘛", " 得劲不"])
    return text.replace(" ", "，", 1) + rnd.choice(["。", "！", "！！", "？"])


def generate() -> list[Row]:
    rnd = random.Random(SEED)
    rows: list[Row] = []
    seen: set[str] = set()

    def add(req: str, cat: str, urg: str, a: Addr, text: str) -> None:
        if text in seen or "\t" in text:
            return
        seen.add(text)
        rows.append((req, cat, urg, *a.labels(), text))

    while len(rows) < COUNT:
        a = Addr(rnd)
        roll = rnd.random()
        x = rnd.choice(DISTRACTORS)
        if roll < 0.45:
            cat, tpl = rnd.choice(PROBLEMS)
            text = tpl.format(a=a.text, x=x) + " " + rnd.choice(ASKS)
            add("1", cat, "normal", a, style(rnd, text))
        elif roll < 0.62:
            cat, tpl = rnd.choice(URGENT)
            text = tpl.format(a=a.text, x=x, fall=rnd.choice(FALL), gas=rnd.choice(GAS), lift=rnd.choice(LIFT))
            add("1", cat, "urgent", a, style(rnd, (text + " " + rnd.choice(URGENT_TAIL)).strip()))
        elif roll < 0.78:
            add("0", "-", "normal", a, rnd.choice(PATROL).format(a=a.text))
        else:
            add("0", "-", "normal", a, rnd.choice(CHAT).format(a=a.text))
    return rows


def main() -> None:
    rows = generate()
    lines = ["\t".join(r) for r in rows]
    if "--write" not in sys.argv:
        print("\n".join(lines))
        return
    made = {r[-1] for r in rows}
    old = CORPUS.read_text(encoding="utf-8").rstrip("\n").split("\n")
    kept = [old[0]] + [ln for ln in old[1:] if ln.split("\t")[-1] not in made]
    CORPUS.write_text("\n".join(kept + lines) + "\n", encoding="utf-8")
    print(f"{len(kept) - 1} hand-written rows kept, {len(lines)} generated rows appended")


if __name__ == "__main__":
    main()
