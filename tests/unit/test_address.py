"""Addresses as residents and members write them, normalised to Arabic-digit building / unit / room."""
from __future__ import annotations

import pytest

from gridbot.understanding import Address, parse_address


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
    assert Address("3", "2", None).to_dict() == {"building": "3", "unit": "2", "room": None}


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
