"""Understanding residents' group messages: request or chatter, category, urgency, address, phone numbers.

    from gridbot.understanding import understand, parse_address
    u = understand("3栋2单元楼道灯坏了好几天了")   # u.is_request, u.category, u.urgency, u.location, u.summary

`understand` uses config/categories.yaml from the configured config dir (gridbot.texts); tests and tools that
want another file use `Understander.from_config_dir(path)`.
"""
from __future__ import annotations

import threading
from pathlib import Path

from .. import texts
from .address import Address, cn_number, find_address, locate_address, parse_address
from .understander import CATEGORY_CODES, Understander, Understanding, find_phones

__all__ = ["Address", "CATEGORY_CODES", "Understander", "Understanding", "cn_number", "find_address",
           "find_phones", "get_understander", "locate_address", "parse_address", "understand"]

_lock = threading.Lock()
_cache: dict[tuple[str, float], Understander] = {}


def get_understander(config_dir: Path | str | None = None) -> Understander:
    """The Understander for `config_dir` (default: the configured one), rebuilt when categories.yaml changes."""
    if config_dir is None:
        config_dir = texts.config_dir()
    path = Path(config_dir) / "categories.yaml"
    try:
        key = (str(path), path.stat().st_mtime)
    except FileNotFoundError:
        key = (str(path), 0.0)
    found = _cache.get(key)
    if found is None:
        with _lock:
            found = _cache.get(key)
            if found is None:
                found = Understander.from_config_dir(config_dir)
                for old in [k for k in _cache if k[0] == key[0]]:
                    del _cache[old]
                _cache[key] = found
    return found


def understand(text: str) -> Understanding:
    """Understand one message with the configured categories.yaml."""
    return get_understander().understand(text)
