"""Cells of every export (xlsx and CSV) written so a spreadsheet never runs what a resident typed.

A resident's message beginning with `=`, `+`, `-`, `@`, a tab or a carriage return becomes a live formula when Excel
or WPS opens the file (`=HYPERLINK("http://evil", "点我")`), so every writer passes its cells through here:
CSV gets OWASP's defence (a leading `'` turns the cell into text), xlsx gets a string cell with the quote prefix set
(Excel shows the text as typed and keeps it text when edited). Numbers, dates and empty cells pass unchanged.
"""
from __future__ import annotations

from typing import Any

from openpyxl.cell import WriteOnlyCell

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def risky(value: Any) -> bool:
    """A text a spreadsheet could read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_cell(value: Any) -> Any:
    """A CSV cell as text: `'=1+1` instead of `=1+1`."""
    return "'" + value if risky(value) else value


def csv_row(values: list[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]


def as_text(cell: Any) -> Any:
    """Make an openpyxl cell (normal or write-only) that holds a risky text a plain string cell with a quote prefix."""
    if risky(cell.value):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def xlsx_row(ws: Any, values: list[Any]) -> list[Any]:
    """A row for a write-only sheet's append(): risky texts become string cells, everything else passes as is."""

    return [as_text(WriteOnlyCell(ws, value=v)) if risky(v) else v for v in values]
