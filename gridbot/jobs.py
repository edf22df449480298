"""Queue entry points. Plain functions taking ids; each finds the current app and calls a service."""
from __future__ import annotations

from .bootstrap import current


def process_inbound(inbound_id: int) -> list[int]:
    from .services import inbound

    return inbound.process(current(), inbound_id)


def send_outbound(outbox_id: int) -> str:
    from .services import outbox

    return outbox.deliver(current(), outbox_id)
