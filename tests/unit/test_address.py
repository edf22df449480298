"""Addresses as residents and members write them, normalised to Arabic-digit building / unit / room."""
from __future__ import annotations

import pytest

from gridbot.understanding import Address, find_address, parse_address


@pytest.mark.parametrize("text, expected", [
    ("3栋2单元101", ("3", "2", "101")),
    ("3号楼2单元101室", ("3", "2", "101")),
    ("3-2-101", ("3", "2", "101")),
    ("３－２－１０１", ("3", "2", "101")),            # full-width, as some input methods type it
    ("十栋一单元", ("10", "1", None)),
    ("10栋一单元", ("10", "1", None)),
    ("三栋二单元一零一", ("3", "2", "101")),
    ("二十一栋三单元五零二", ("21", "3", "502")),
    ("3幢", ("3", None, None)),
    ("3号楼", ("3", None, None)),
    ("3#楼2单元1102", ("3", "2", "1102")),
    ("5号2单元301", ("5", "2", "301")),
    ("12栋 3单元 0502", ("12", "3", "0502")),
    ("我家住7栋1单元602室，楼道灯坏了", ("7", "1", "602")),
    ("2单元301", (None, "2", "301")),
    ("302室", (None, None, "302")),
    ("幺零栋二单元", ("10", "2", None)),
])
def test_forms_normalise_to_digits(text: str, expected: tuple) -> None:
    address = parse_address(text)
    assert address is not None
    assert (address.building, address.unit, address.room) == expected


@pytest.mark.parametrize("text", ["", "收到", "明天3号开会", "2024-3-15", "13812345678", "3楼走廊", "下午3点"])
def test_no_address_gives_none(text: str) -> None:
    assert parse_address(text) is None


def test_address_prints_as_people_write_it() -> None:
    assert str(Address("3", "2", "101")) == "3栋2单元101"
    assert str(Address("21", None, None)) == "21栋"
    assert Address().is_empty and not Address("3").is_empty
    # issue 19 added phase and zone: to_dict gains the two keys (the old three are unchanged)
    assert Address("3", "2", None).to_dict() == {"building": "3", "unit": "2", "room": None, "phase": None,
                                                 "zone": None}
    assert str(Address("C", None, "1201", phase="2", zone="A")) == "2期A区C栋1201"


def test_phone_numbers_are_never_read_as_an_address() -> None:
    assert parse_address("张三 13812345678 3栋2单元101") == Address("3", "2", "101")
    assert parse_address("电话 138 1234 5678") is None
    assert parse_address("0571-88886666") is None


def test_locate_address_gives_the_span_for_commands_that_split_on_it() -> None:
    from gridbot.understanding import locate_address

    text = "走访 三栋二单元一零一 老人身体好"
    address, start, end = locate_address(text)
    assert address == Address("3", "2", "101")
    assert text[start:end] == "三栋二单元一零一" and text[end:].strip() == "老人身体好"
    assert locate_address("老人身体好") is None


@pytest.mark.parametrize("text, expected", [
    ("7-1-302", ("7", "1", "302", None, None)),
    ("9#3-601", ("9", "3", "601", None, None)),
    ("9#", ("9", None, None, None, None)),
    ("5号楼1门203", ("5", "1", "203", None, None)),           # 门 is the unit in many older estates
    ("3门502漏水", (None, "3", "502", None, None)),
    ("C座1201", ("C", None, "1201", None, None)),
    ("c座1201", ("C", None, "1201", None, None)),             # lower-case letters are uppercased
    ("b栋2单元", ("B", "2", None, None, None)),
    ("四栋一单元六零一", ("4", "1", "601", None, None)),      # Chinese digits one by one
    ("十一号楼", ("11", None, None, None, None)),             # ... or as a number
    ("二期3栋2单元101", ("3", "2", "101", "2", None)),
    ("2期 十二栋", ("12", None, None, "2", None)),
    ("A区5号楼", ("5", None, None, None, "A")),
    ("a区C座1201", ("C", None, "1201", None, "A")),
    ("三期东区8幢", ("8", None, None, "3", "东")),
    ("住在二期，6栋楼下的路灯", ("6", None, None, "2", None)),   # the phase fills its field wherever it is
])
def test_issue19_forms(text: str, expected: tuple) -> None:
    address = parse_address(text)
    assert address is not None
    assert (address.building, address.unit, address.room, address.phase, address.zone) == expected


@pytest.mark.parametrize("text", ["5楼", "三楼楼道", "2号门", "北门口", "小区北门", "坐3路车", "浙A12345",
                                  "车牌苏E·88888", "电话139 0000 1111", "第二期防诈骗培训", "1门口",
                                  "周期三天", "江北区", "社区", "12月3日", "价格150元"])
def test_not_a_place(text: str) -> None:
    address = find_address(text)
    assert address.is_empty, (text, address)


def test_a_gate_or_floor_beside_a_building_stays_out_of_it() -> None:
    assert parse_address("3栋1门口堆满了杂物") == Address("3")
    assert parse_address("5号楼三楼楼道") == Address("5")
    assert find_address("江北区3栋") == Address("3")          # a city district is not an estate zone


def test_phase_or_zone_alone_fills_its_field_but_is_no_command_address() -> None:
    assert find_address("二期的路灯坏了") == Address(phase="2")
    assert find_address("我们西区的垃圾没人清") == Address(zone="西")
    assert parse_address("二期") is None       # 走访/登记 need a building, unit or room


def test_locate_address_spans_the_estate_part_before_the_building() -> None:
    from gridbot.understanding import locate_address

    text = "走访 二期A区3栋2单元101 老人身体好"
    address, start, end = locate_address(text)
    assert address == Address("3", "2", "101", "2", "A")
    assert text[start:end] == "二期A区3栋2单元101"


@pytest.mark.parametrize("text, expected", [
    ("巡查记录：4-4-1101楼道杂物已清理", Address("4", "4", "1101")),   # a full-width colon before a dashed form
    ("5-2单元化粪池满了", Address("5", "2")),
    ("叁号楼壹单元的楼道灯不亮", Address("3", "1")),                     # financial numerals
    ("二十八栋二单元五零一一楼的院子", Address("28", "2", "501")),       # 五零一 then 一楼 (a floor)
    ("十二号楼四单元一二零一楼道里", Address("12", "4", "1201")),
    ("【网格动态】东区2栋的飞线已拆除", Address("2", zone="东")),
    ("F座1101单元门门禁坏了", Address("F", None, "1101")),               # 1101 is a room; 单元门 the entrance
    ("3栋2单元门口", Address("3", "2")),
])
def test_more_forms_from_real_posts(text: str, expected: Address) -> None:
    assert find_address(text) == expected


@pytest.mark.parametrize("text", ["明天1-6号楼停气", "5、6、7号楼停电", "隔着三栋楼都能闻到", "一栋楼的阳台"])
def test_ranges_lists_and_counts_of_buildings_are_no_address(text: str) -> None:
    assert find_address(text).building is None
