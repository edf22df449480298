"""Texts people read, from config/templates.yaml. Code names a key; the Chinese lives in config."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import DEFAULT_CONFIG_DIR, ConfigError, load_yaml

_config_dir: Path = DEFAULT_CONFIG_DIR


def use_config_dir(path: Path) -> None:
    global _config_dir
    _config_dir = Path(path)


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
