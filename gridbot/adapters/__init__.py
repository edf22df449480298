"""Adapters: one per inbound route, each turning that route's payload into the neutral Inbound.

- wecom_app.py: the self-built app's callback (/wecom/callback, signed and encrypted XML)
- wecom_aibot.py: the AI bot's callback (/wecom/aibot, signed and encrypted JSON)
- wecom_crypto.py: what both WeCom routes share (signature, time window, decryption, the signed query)

An adapter's read() checks and opens one request and hands back an Arrival for gridbot/pipeline/receive.py.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..messages import Inbound


@dataclass
class Arrival:
    """One message as a route delivered it: the neutral Inbound, the decrypted payload (kept on the row for audit
    and replay) and the replay guard's key (the signed request's identity: the same one twice is a replay)."""

    inbound: Inbound
    raw: str | None
    replay_key: str
    replay_ttl: int      # seconds the key is remembered: twice the route's timestamp window
