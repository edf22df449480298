"""The `gridbot` CLI (click). One module per concern; each adds its commands to `main`."""
from __future__ import annotations

from . import (
    account,
    chat,
    coverage,
    db,
    demo,
    digest,
    grids,
    inbound,
    parse,
    report,
    roster,
    schedule,
    seed,
    serve,
    tickets,
    understanding,
    wecom,
    work,
)
from .base import main

# Importing a module registers its commands on `main`; add a new concern to the import above and here.
CONCERNS = (account, chat, coverage, db, demo, digest, grids, inbound, parse, report, roster, schedule, seed, serve,
            tickets, understanding, wecom, work)

__all__ = ["main"]
