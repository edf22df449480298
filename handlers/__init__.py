"""Chat handlers, one module per capability, shipped as gridbot.handlers.

Order matters: the router tries rules in registration order and the first match wins. Commands are
matched as one rule (placed where the first command registers); `fallback` must stay last.
"""

MODULES = [
    "gridbot.handlers.events",
    "gridbot.handlers.kf",
    "gridbot.handlers.help",
    "gridbot.handlers.chats",
    "gridbot.handlers.coverage",
    "gridbot.handlers.members_work",
    "gridbot.handlers.tickets",
    "gridbot.handlers.reminders",
    "gridbot.handlers.announcements",
    "gridbot.handlers.group_chat",
    "gridbot.handlers.fallback",
]
