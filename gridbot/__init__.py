"""gridbot: a WeCom chat-bot for community grid governance (网格化管理)."""

__version__ = "0.1.0"
