"""The `gridbot` CLI (click). One module per concern; each adds its commands to `main`."""
from __future__ import annotations

from .base import main

# Importing a module registers its commands. Add a new concern here.
from . import chat, db, grids, serve, parse, roster, demo, coverage, wecom, work, tickets  # noqa: E402,F401

from . import schedule  # noqa: E402,F401  (gridbot schedule parse, gridbot scheduler run)
from . import digest, report  # noqa: E402,F401  (gridbot digest, gridbot report evaluation|logs)
from . import account  # noqa: E402,F401  (gridbot account create|reset-password|token: the web console)
from . import seed, inbound  # noqa: E402,F401  (gridbot seed synthetic, gridbot inbound requeue)

__all__ = ["main"]
