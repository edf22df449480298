"""Settings from the environment (GRIDBOT_*) and the YAML files in config/.

This is the only module that reads the environment. A wrong or missing setting raises
ConfigError with one line naming the setting, which the CLI and create_app() print and stop on.
"""
from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"


DEFAULT_TIMEZONE = "Asia/Shanghai"   # the one place the default zone is named; everything else gets Settings.tz


class ConfigError(Exception):
    """A setting is wrong or missing. The message names the setting in one line."""


def _aes_key_decodes(key: str) -> bool:
    """An EncodingAESKey is base64 of 32 bytes without its "=" (WECOM.md "Callback crypto")."""
    try:
        return len(base64.b64decode(key + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: 应为整数 (must be an integer)") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: 不能小于 {minimum} (must be >= {minimum})")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    """An on/off setting: 1/true/yes/on or 0/false/no/off (empty = off); anything else names itself."""
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}={raw!r}: 应为 1 或 0 (must be 1/true or 0/false)")


@dataclass(frozen=True)
class WeComSettings:
    corp_id: str | None = None
    agent_id: str | None = None
    secret: str | None = None
    token: str | None = None
    aes_key: str | None = None
    aibot_token: str | None = None
    aibot_aes_key: str | None = None
    api_base: str = "https://qyapi.weixin.qq.com"
    aibot_name: str | None = None        # the AI bot's display name, to strip "@name" anywhere in a message
    api_timeout: int = 5                 # seconds to wait for a WeCom API answer

    @property
    def app_callback_enabled(self) -> bool:
        return bool(self.corp_id and self.token and self.aes_key)

    @property
    def aibot_enabled(self) -> bool:
        return bool(self.aibot_token and self.aibot_aes_key)

    @property
    def api_enabled(self) -> bool:
        return bool(self.corp_id and self.secret)


@dataclass(frozen=True)
class ArchiveSettings:
    """The chat archive (会话内容存档). source: "sdk" (WeCom, through the native Finance SDK), "local" (the embedded
    archive: demo, simulator, tests) or "off". private_keys: publickey_ver -> the PEM file of its RSA private key
    (several at once while keys rotate); the files are read when the archive is opened, never logged."""

    source: str = "off"
    secret: str | None = None
    private_keys: tuple[tuple[int, Path], ...] = ()
    pull_limit: int = 1000                # messages a fetch asks for (the SDK's maximum is 1,000)
    lock_seconds: int = 300               # the puller's lock expires after this if its process was killed
    sdk_timeout: int = 10                 # seconds the SDK waits for WeCom

    @property
    def enabled(self) -> bool:
        return self.source in ("sdk", "local")


def _private_keys(raw: str) -> tuple[tuple[int, Path], ...]:
    """"1:/etc/gridbot/archive1.pem,2:/etc/gridbot/archive2.pem" -> ((1, path), (2, path))."""
    keys = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        ver, sep, path = part.partition(":")
        if not sep or not ver.strip().isdigit() or not path.strip():
            raise ConfigError(f"GRIDBOT_ARCHIVE_PRIVATE_KEYS: {part!r} 应为 版本号:私钥文件路径 "
                              "(expected publickey_ver:/path/to/key.pem, comma-separated)")
        keys.append((int(ver), Path(path.strip())))
    return tuple(keys)


def _llm_url(url: str | None) -> str | None:
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"GRIDBOT_LLM_BASE_URL={url!r}: 应以 http:// 或 https:// 开头 (e.g. http://10.0.0.5:8000/v1)")
    return url.rstrip("/") if url else None


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    timezone: str
    config_dir: Path
    instance_dir: Path
    secret_key: str
    redis_prefix: str = "gridbot:"
    queue_prefix: str = "gridbot"
    redis_timeout_ms: int = 2000          # a hung Redis fails a command after this instead of blocking the webhook
    callback_max_skew: int = 300          # seconds a callback timestamp may differ from now
    max_body_bytes: int = 64 * 1024       # WeCom callbacks are a few KB; anything larger is refused
    console_base_url: str = "http://127.0.0.1:5000"
    log_level: str = "INFO"
    proxy_hops: int = 0                   # reverse proxies in front (nginx = 1): trust their X-Forwarded-*
    simulator: bool = False               # the chat simulator (speak as anyone, read every outbox row): demo only
    wecom: WeComSettings = field(default_factory=WeComSettings)
    journal_dir: Path | None = None       # callbacks kept while the database is down (default <instance_dir>/journal)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    llm_base_url: str | None = None       # an OpenAI-compatible endpoint (…/v1): asked about unsure messages
    llm_api_key: str | None = field(default=None, repr=False)   # its Bearer key (never in a repr or a log)
    llm_model: str | None = None          # the model name it serves (qwen2.5-72b-instruct, deepseek-chat, …)

    @property
    def journal_path(self) -> Path:
        return self.journal_dir or self.instance_dir / "journal"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def with_overrides(self, **kw: Any) -> Settings:
        return replace(self, **kw)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        instance_dir = Path(env.get("GRIDBOT_INSTANCE_DIR") or (Path.cwd() / "instance"))
        database_url = env.get("GRIDBOT_DATABASE_URL") or f"sqlite:///{instance_dir / 'gridbot.db'}"
        if "://" not in database_url:
            raise ConfigError(f"GRIDBOT_DATABASE_URL={database_url!r}: 不是数据库地址 (expected e.g. "
                              "sqlite:///gridbot.db or postgresql+psycopg://user@host/db)")
        if database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
        if not (database_url.startswith("sqlite") or database_url.startswith("postgresql")):
            raise ConfigError(f"GRIDBOT_DATABASE_URL: 只支持 SQLite 和 PostgreSQL (got scheme "
                              f"{database_url.split('://')[0]!r})")
        redis_url = env.get("GRIDBOT_REDIS_URL") or None
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"GRIDBOT_REDIS_URL={redis_url!r}: 应以 redis:// 开头 (must start with redis://)")
        timezone = env.get("GRIDBOT_TIMEZONE") or DEFAULT_TIMEZONE
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"GRIDBOT_TIMEZONE={timezone!r}: 未知时区 (unknown IANA time zone)") from None
        config_dir = Path(env.get("GRIDBOT_CONFIG_DIR") or DEFAULT_CONFIG_DIR)
        if not (config_dir / "templates.yaml").is_file():
            raise ConfigError(f"GRIDBOT_CONFIG_DIR={str(config_dir)!r}: 找不到 templates.yaml "
                              "(not a gridbot config directory)")
        secret_key = env.get("GRIDBOT_SECRET_KEY") or ""
        if not secret_key:
            # Fine for the embedded default; production sets GRIDBOT_SECRET_KEY (deploy/.env.example).
            secret_key = "dev-only-" + str(instance_dir)
        level = (env.get("GRIDBOT_LOG_LEVEL") or "INFO").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"GRIDBOT_LOG_LEVEL={level!r}: 应为 DEBUG/INFO/WARNING/ERROR")
        wecom = WeComSettings(
            corp_id=env.get("GRIDBOT_WECOM_CORP_ID") or None,
            agent_id=env.get("GRIDBOT_WECOM_AGENT_ID") or None,
            secret=env.get("GRIDBOT_WECOM_SECRET") or None,
            token=env.get("GRIDBOT_WECOM_TOKEN") or None,
            aes_key=env.get("GRIDBOT_WECOM_AES_KEY") or None,
            aibot_token=env.get("GRIDBOT_AIBOT_TOKEN") or None,
            aibot_aes_key=env.get("GRIDBOT_AIBOT_AES_KEY") or None,
            api_base=(env.get("GRIDBOT_WECOM_API_BASE") or "https://qyapi.weixin.qq.com").rstrip("/"),
            aibot_name=env.get("GRIDBOT_AIBOT_NAME") or None,
            api_timeout=_int(env, "GRIDBOT_WECOM_TIMEOUT", 5, minimum=1),
        )
        for name, key in (("GRIDBOT_WECOM_AES_KEY", wecom.aes_key), ("GRIDBOT_AIBOT_AES_KEY", wecom.aibot_aes_key)):
            if key is not None and len(key) != 43:
                raise ConfigError(f"{name}: EncodingAESKey 应为 43 个字符 (got {len(key)})")
            if key is not None and not _aes_key_decodes(key):   # else wechatpy fails later with a bare assert
                raise ConfigError(f"{name}: EncodingAESKey 不是合法的 base64（解码后应为 32 字节），"
                                  "请从企业微信回调配置页重新复制")
        source = (env.get("GRIDBOT_ARCHIVE_SOURCE") or "off").strip().lower()
        if source not in ("off", "sdk", "local"):
            raise ConfigError(f"GRIDBOT_ARCHIVE_SOURCE={source!r}: 应为 off、sdk 或 local")
        archive = ArchiveSettings(
            source=source,
            secret=env.get("GRIDBOT_ARCHIVE_SECRET") or None,
            private_keys=_private_keys(env.get("GRIDBOT_ARCHIVE_PRIVATE_KEYS") or ""),
            pull_limit=min(_int(env, "GRIDBOT_ARCHIVE_PULL_LIMIT", 1000, minimum=1), 1000),
            lock_seconds=_int(env, "GRIDBOT_ARCHIVE_LOCK_SECONDS", 300, minimum=10),
            sdk_timeout=_int(env, "GRIDBOT_ARCHIVE_SDK_TIMEOUT", 10, minimum=1),
        )
        if source == "sdk" and not (archive.secret and archive.private_keys and wecom.corp_id):
            raise ConfigError("GRIDBOT_ARCHIVE_SOURCE=sdk: 还需设置 GRIDBOT_ARCHIVE_SECRET、"
                              "GRIDBOT_ARCHIVE_PRIVATE_KEYS 和 GRIDBOT_WECOM_CORP_ID")
        return cls(
            database_url=database_url,
            redis_url=redis_url,
            timezone=timezone,
            config_dir=config_dir,
            instance_dir=instance_dir,
            secret_key=secret_key,
            redis_prefix=env.get("GRIDBOT_REDIS_PREFIX") or "gridbot:",
            queue_prefix=env.get("GRIDBOT_QUEUE_PREFIX") or "gridbot",
            redis_timeout_ms=_int(env, "GRIDBOT_REDIS_TIMEOUT_MS", 2000, minimum=50),
            callback_max_skew=_int(env, "GRIDBOT_CALLBACK_MAX_SKEW", 300, minimum=1),
            max_body_bytes=_int(env, "GRIDBOT_MAX_BODY_BYTES", 64 * 1024, minimum=1024),
            console_base_url=(env.get("GRIDBOT_CONSOLE_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
            log_level=level,
            proxy_hops=_int(env, "GRIDBOT_PROXY_HOPS", 0),
            simulator=_flag(env, "GRIDBOT_SIMULATOR"),
            wecom=wecom,
            journal_dir=Path(env.get("GRIDBOT_JOURNAL_DIR") or (instance_dir / "journal")),
            archive=archive,
            llm_base_url=_llm_url(env.get("GRIDBOT_LLM_BASE_URL") or None),
            llm_api_key=env.get("GRIDBOT_LLM_API_KEY") or None,
            llm_model=env.get("GRIDBOT_LLM_MODEL") or None,
        )


@lru_cache(maxsize=64)
def _load_yaml(path: str, mtime: float) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_yaml(config_dir: Path, name: str) -> Any:
    """Read config/<name> (cached until the file changes). A broken file names itself."""
    path = Path(config_dir) / name
    try:
        return _load_yaml(str(path), path.stat().st_mtime)
    except FileNotFoundError:
        raise ConfigError(f"{path}: 配置文件不存在 (config file missing)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML 格式错误 (invalid YAML): {exc}".replace("\n", " ")) from None
