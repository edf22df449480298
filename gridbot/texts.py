"""Texts people read, from config/templates.yaml. Code names a key; the Chinese lives in config."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import DEFAULT_CONFIG_DIR, DEFAULT_TIMEZONE, ConfigError, load_yaml

# What people read is configured per process: bootstrap.build sets both from Settings (one app per process).
_config_dir: Path = DEFAULT_CONFIG_DIR
_timezone: str = DEFAULT_TIMEZONE


def use_config_dir(path: Path, timezone: str = DEFAULT_TIMEZONE) -> None:
    """The config directory (templates, schedules) and the zone people live in (GRIDBOT_TIMEZONE)."""
    global _config_dir, _timezone
    _config_dir = Path(path)
    _timezone = timezone


def config_dir() -> Path:
    """The config directory of the app this process runs."""
    return _config_dir


def people_timezone() -> str:
    """GRIDBOT_TIMEZONE of the app this process runs: for rules with no caller to hand the zone in (quiet hours
    applied when any service writes a notice to the outbox)."""
    return _timezone


def t(key: str, **values: Any) -> str:
    """The template at dotted `key`, formatted with `values`. A missing key is a bug: fail loudly."""
    node: Any = load_yaml(_config_dir, "templates.yaml")
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"templates.yaml: 缺少文本 {key!r} (missing template)")
        node = node[part]
    if not isinstance(node, str):
        raise ConfigError(f"templates.yaml: {key!r} 不是文本 (not a string)")
    return node.format(**values) if values else node
