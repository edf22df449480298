"""`gridbot report`: evaluation workbooks (考核) and work-log summaries (placeholder until written)."""
from __future__ import annotations

import click

from .base import main


@main.group("report")
def report() -> None:
    """考核表与工作日志汇总。"""
