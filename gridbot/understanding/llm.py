"""An optional large model's second opinion on a resident's message (config/llm.yaml).

Many county governments run a private large model behind an OpenAI-compatible endpoint (Qwen, DeepSeek, …). With
GRIDBOT_LLM_BASE_URL set (and GRIDBOT_LLM_API_KEY, GRIDBOT_LLM_MODEL), the worker that processes a resident's message
asks it about the messages the understanding is unsure of (or all non-urgent ones, as configured):

    u = second_opinion(settings, text, understand(text), now, redis)

The request is `POST {base_url}/chat/completions` with `response_format: {type: json_schema, strict: true}` and the
schema ANSWER_SCHEMA; the answer is validated here again (a model that ignores the schema is garbage, not an
answer). The answer can only add to the understanding:

- `urgent: true`  -> the message becomes an urgent request (the rules' category kept, else the model's);
- `is_request: true` on an unsure non-request -> a normal request (category: the model's, else "other").

It never lowers anything: an urgent message is not even asked, and a "not a request" answer changes nothing. When
the model is not configured, disabled, over budget, slow (timeout_seconds), failing (HTTP error, connection refused)
or answers garbage, the understanding is returned unchanged, and the operator log says precisely why, naming the
message by its id (`ref`: "inbound 42"), never by its words (nor the words the model answered).

The budget (calls per clock hour and per day, local time) is counted in Redis across all workers when
`budget.count_in: redis` and Redis is there, else per process. Over budget is logged once per window.
The urgent path never depends on the model: the rules and the learned model decide first, and the model is asked
after, in the worker, with a short timeout.

In the chat path the call is made outside the message's transaction: the worker's process() holds the message's
row lock and a pooled connection, and a slow endpoint would hold both for up to timeout_seconds per message on
every worker (a storm then empties the pool). There question() decides inside the transaction, AskFirst rolls it
back, answer_once() asks with nothing open (once per message: the answer is kept in Redis for a retry) and the
message is run again, apply() merging the answer. second_opinion() does all of it in one go, for callers with no
transaction open.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from time import monotonic, sleep
from typing import Any

import requests
import urllib3

from ..config import ConfigError, Settings, load_yaml
from .understander import CATEGORY_CODES, Understanding

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024   # an answer of four short fields; anything far larger is not one

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["is_request", "urgent", "category", "reason"],
    "properties": {
        "is_request": {"type": "boolean"},
        "urgent": {"type": "boolean"},
        "category": {"type": ["string", "null"], "enum": [*CATEGORY_CODES, None]},
        "reason": {"type": "string"},
    },
}


@dataclass(frozen=True)
class Answer:
    is_request: bool
    urgent: bool
    category: str | None
    reason: str


@dataclass(frozen=True)
class LlmConfig:
    """config/llm.yaml read."""

    enabled: bool = False
    ask: str = "unsure"            # unsure | all
    min_chars: int = 8
    max_chatter: float = 0.0
    timeout: float = 4.0
    max_tokens: int = 200
    temperature: float = 0.0
    per_hour: int = 120
    per_day: int = 1000
    count_in: str = "redis"        # where calls are counted: redis (all workers) | process
    prompt: str = ""

    @classmethod
    def from_dict(cls, data: Any) -> LlmConfig:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ConfigError("llm.yaml: 应为映射 (must be a mapping)")
        unsure = data.get("unsure") or {}
        budget = data.get("budget") or {}
        try:
            cfg = cls(enabled=bool(data.get("enabled", True)), ask=str(data.get("ask", "unsure")),
                      min_chars=int(unsure.get("min_chars", 8)), max_chatter=float(unsure.get("max_chatter", 0)),
                      timeout=float(data.get("timeout_seconds", 4)), max_tokens=int(data.get("max_tokens", 200)),
                      temperature=float(data.get("temperature", 0)), per_hour=int(budget.get("per_hour", 120)),
                      per_day=int(budget.get("per_day", 1000)), count_in=str(budget.get("count_in", "redis")),
                      prompt=str(data.get("prompt") or "").strip())
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"llm.yaml: 数值格式错误 (a number is not a number: {exc})") from None
        if cfg.ask not in ("unsure", "all"):
            raise ConfigError(f"llm.yaml: ask 应为 unsure 或 all，收到 {cfg.ask!r}")
        if cfg.count_in not in ("redis", "process"):
            raise ConfigError(f"llm.yaml: budget.count_in 应为 redis 或 process，收到 {cfg.count_in!r}")
        if not 0 < cfg.timeout <= 60:
            raise ConfigError(f"llm.yaml: timeout_seconds 应在 0 到 60 之间，收到 {cfg.timeout}")
        if cfg.per_hour < 0 or cfg.per_day < 0:
            raise ConfigError("llm.yaml: budget.per_hour / per_day 不能为负数")
        if cfg.enabled and not cfg.prompt:
            raise ConfigError("llm.yaml: 缺少 prompt (the system prompt)")
        return cfg


def load_llm_config(config_dir: Path) -> LlmConfig:
    """config/llm.yaml of `config_dir`; a missing file means no model (disabled)."""
    if not (Path(config_dir) / "llm.yaml").is_file():
        return LlmConfig(enabled=False)
    return LlmConfig.from_dict(load_yaml(Path(config_dir), "llm.yaml"))


def is_unsure(u: Understanding, cfg: LlmConfig) -> bool:
    """Whether the understanding is unsure of `u` (see config/llm.yaml `unsure`). Urgent is never unsure."""
    if u.is_urgent:
        return False
    if getattr(u, "unsure", False) is True:     # the learned model's own middle band, when it says so
        return True
    scores = u.scores or {}
    if not u.is_request:
        return scores.get("chatter", 0.0) <= cfg.max_chatter
    return u.category in (None, "other") or scores.get("urgent", 0.0) > 0


def should_ask(u: Understanding, text: str, cfg: LlmConfig) -> bool:
    if not cfg.enabled or u.is_urgent or len(text.replace(" ", "")) < cfg.min_chars:
        return False
    return cfg.ask == "all" or is_unsure(u, cfg)


# -- the budget ---------------------------------------------------------------------------------------------------
class Budget:
    """Calls per clock hour and per day. take() says whether one more call fits, and counts it if so."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._said: set[str] = set()

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._said.clear()

    def first_time(self, what: str) -> bool:
        """True the first time `what` is said in this process (since reset()): a log line said once."""
        with self._lock:
            first = what not in self._said
            self._said.add(what)
            return first

    def take(self, now: datetime, cfg: LlmConfig, redis: Any = None, prefix: str = "gridbot:") -> bool:
        windows = (("hour", now.strftime("%Y%m%d%H"), cfg.per_hour, 2 * 3600),
                   ("day", now.strftime("%Y%m%d"), cfg.per_day, 2 * 86400))
        if redis is not None and cfg.count_in == "redis":
            try:
                return self._take_redis(redis, prefix, windows)
            except Exception as exc:  # noqa: BLE001 - Redis down or slow: count in this process instead
                log.warning("llm budget: Redis unavailable (%s); counting per process", exc.__class__.__name__)
        with self._lock:
            over = [w for w in windows if self._counts.get(f"{w[0]}:{w[1]}", 0) >= w[2]]
            if over:
                kind, key, limit, _ = over[0]
                first = f"{kind}:{key}" not in self._said
                self._said.add(f"{kind}:{key}")
            else:
                for kind, key, _limit, _ttl in windows:
                    self._counts[f"{kind}:{key}"] = self._counts.get(f"{kind}:{key}", 0) + 1
                current = {f"{kind}:{key}" for kind, key, _limit, _ttl in windows}
                for old in [k for k in self._counts if k not in current]:   # past hours and days
                    del self._counts[old]
                return True
        if first:
            _say_over(kind, limit)
        return False

    @staticmethod
    def _take_redis(redis: Any, prefix: str, windows: tuple) -> bool:
        pipe = redis.pipeline()
        for kind, key, _limit, ttl in windows:
            pipe.incr(f"{prefix}llm:budget:{kind}:{key}")
            pipe.expire(f"{prefix}llm:budget:{kind}:{key}", ttl)
        counts = pipe.execute()[::2]
        for (kind, key, limit, ttl), count in zip(windows, counts, strict=True):
            if int(count) > limit:
                if redis.set(f"{prefix}llm:budget:{kind}:{key}:said", 1, nx=True, ex=ttl):
                    _say_over(kind, limit)
                return False
        return True


def _say_over(kind: str, limit: int) -> None:
    window = "本小时" if kind == "hour" else "今天"
    log.warning("llm: %s的调用额度 (%d 次) 已用完，其后的消息不再询问大模型，按规则与模型的结果处理 "
                "(budget per %s exhausted; raise budget.per_%s in config/llm.yaml if needed)",
                window, limit, kind, kind)


BUDGET = Budget()


# -- the call -----------------------------------------------------------------------------------------------------
class LlmFailure(Exception):
    """Why the model gave no usable answer (for the operator log; holds no resident text)."""


def request_body(model: str, text: str, cfg: LlmConfig) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "system", "content": cfg.prompt}, {"role": "user", "content": text}],
        "temperature": cfg.temperature,
        "max_tokens": cfg.max_tokens,
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "gridbot_message", "strict": True, "schema": ANSWER_SCHEMA}},
    }


def parse_answer(content: Any) -> Answer:
    """The model's message content -> Answer, or LlmFailure naming what is wrong with it."""
    if not isinstance(content, str):
        raise LlmFailure("answer content is not a string")
    raw = content.strip()
    if raw.startswith("```"):          # some servers wrap JSON in a code fence despite the schema
        raw = raw.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(raw)
    except ValueError:
        raise LlmFailure(f"answer is not JSON ({len(content)} characters)") from None
    if not isinstance(data, dict):
        raise LlmFailure(f"answer is a JSON {type(data).__name__}, not an object")
    keys = set(ANSWER_SCHEMA["required"])
    if set(data) != keys:   # the model's own keys are not logged: it may echo the resident's words in them
        raise LlmFailure(f"answer keys are not the schema's (missing {sorted(keys - set(data))}, "
                         f"{len(set(data) - keys)} unknown)")
    if not isinstance(data["is_request"], bool) or not isinstance(data["urgent"], bool):
        raise LlmFailure("is_request / urgent are not booleans")
    if data["category"] is not None and data["category"] not in CATEGORY_CODES:
        raise LlmFailure("category is not a category code")     # its value is not logged (see above)
    if not isinstance(data["reason"], str):
        raise LlmFailure("reason is not a string")
    return Answer(is_request=data["is_request"], urgent=data["urgent"], category=data["category"],
                  reason=data["reason"][:200])


def ask(settings: Settings, text: str, cfg: LlmConfig) -> Answer:
    """One call to the endpoint. Raises LlmFailure for anything but a valid answer."""
    url = str(settings.llm_base_url).rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    if settings.llm_api_key:
        headers["Authorization"] = f"Bearer {settings.llm_api_key}"
    # timeout_seconds bounds the whole answer: requests' read timeout is per read, so a server trickling its body
    # would hold the worker far longer; the body is read as it arrives against one deadline (and a size limit), so
    # the worst case is a little over twice timeout_seconds (a last read that waits its full read timeout).
    deadline = monotonic() + cfg.timeout
    try:
        with requests.post(url, json=request_body(settings.llm_model or "", text, cfg), headers=headers,
                           timeout=(cfg.timeout, cfg.timeout), stream=True) as resp:
            if resp.status_code != 200:
                raise LlmFailure(f"HTTP {resp.status_code} from {url}")
            raw = bytearray()
            while chunk := resp.raw.read1(1024, decode_content=True):    # whatever has arrived, up to 1 KiB
                raw += chunk
                if monotonic() > deadline:
                    raise requests.Timeout()
                if len(raw) > MAX_RESPONSE_BYTES:
                    raise LlmFailure(f"the response is larger than {MAX_RESPONSE_BYTES} bytes")
    except (requests.Timeout, urllib3.exceptions.TimeoutError):    # the body is read from urllib3 directly
        raise LlmFailure(f"no answer within {cfg.timeout:g}s (timeout_seconds)") from None
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise LlmFailure(f"cannot reach {url} ({exc.__class__.__name__})") from None
    try:
        body = json.loads(bytes(raw))
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LlmFailure("the response is not an OpenAI chat completion (choices[0].message.content)") from None
    return parse_answer(content)


def merge(u: Understanding, answer: Answer, unsure: bool) -> Understanding:
    """The understanding with the model's answer added: raise only, never lower."""
    if u.is_urgent:
        return u
    category = u.category if u.category not in (None, "other") else (answer.category or u.category or "other")
    scores = {**(u.scores or {}), "llm": 1.0}
    if answer.urgent:
        return replace(u, is_request=True, urgency="urgent", category=category, scores=scores)
    if answer.is_request and not u.is_request and unsure:
        return replace(u, is_request=True, category=answer.category or "other", scores=scores)
    return u


def enabled(settings: Settings) -> bool:
    return bool(getattr(settings, "llm_base_url", None))


@dataclass(frozen=True)
class Question:
    """What to ask the model about one message: decided where the message is understood (inside process()'s
    transaction), asked outside it (pipeline/process.py), so that a slow endpoint holds no row lock and no pooled
    connection. Holds the resident's text: never logged (`ref` names the message)."""

    text: str
    understanding: Understanding
    cfg: LlmConfig
    ref: str = "message"


class AskFirst(Exception):
    """Raised where a message would be asked about and no answer for it is at hand: the caller (process()) rolls
    its transaction back, having changed nothing, asks outside it (ask_outside()), then runs the message again with
    the answer."""

    def __init__(self, question: Question) -> None:
        super().__init__(question.ref)
        self.question = question


def question(settings: Settings, text: str, u: Understanding, ref: str = "message") -> Question | None:
    """The Question when the model would be asked about `u` (configured, enabled, unsure, a model name), else None.
    Neither calls nor counts the budget: without GRIDBOT_LLM_BASE_URL it is one attribute read."""
    if not enabled(settings):
        return None
    try:
        cfg = load_llm_config(settings.config_dir)
    except ConfigError as exc:
        log.error("llm: config/llm.yaml 有误，不询问大模型: %s", exc)
        return None
    if not should_ask(u, text, cfg):
        return None
    if not settings.llm_model:      # every OpenAI-compatible server refuses a request without a model name
        if BUDGET.first_time("no_model"):
            log.error("llm: 设置了 GRIDBOT_LLM_BASE_URL 但没有 GRIDBOT_LLM_MODEL（模型名），不询问大模型 "
                      "(set GRIDBOT_LLM_MODEL to the model name the endpoint serves)")
        return None
    return Question(text=text, understanding=u, cfg=cfg, ref=ref)


def ask_outside(settings: Settings, q: Question, now: datetime, redis: Any = None) -> Answer | None:
    """The one call for `q`: the budget taken, the endpoint asked. None when there is no usable answer (over
    budget, slow, failing, garbage: the operator log says why). Never raises but for an interrupt: to be called
    with no database transaction open (it may take timeout_seconds, a little over twice that for a trickle)."""
    cfg = q.cfg
    local = now.astimezone(settings.tz)
    if not BUDGET.take(local, cfg, redis, settings.redis_prefix):
        return None
    try:
        return ask(settings, q.text, cfg)
    except LlmFailure as exc:
        log.warning("llm: 大模型未给出可用回答，按原结果处理 (%s) [%s]", exc, q.ref)
    except Exception as exc:  # noqa: BLE001 - a bug here must not cost the message its handling
        log.error("llm: 询问大模型时出错，按原结果处理 (%s) [%s]", exc.__class__.__name__, q.ref)
    return None


ANSWER_KEPT_SECONDS = 6 * 3600     # an RQ retry of the message comes well within this
_PENDING = b"pending"


def answer_once(settings: Settings, q: Question, now: datetime, redis: Any, inbound_id: int) -> Answer | None:
    """ask_outside() at most once per message, across the re-runs of an RQ retry and across workers: with Redis,
    the answer (or that there was none) is kept under the message's id, so a retry after the re-run failed (the
    database went away) uses it instead of asking and counting the budget again. Only the verdict is kept, not
    the model's reason (it may echo the resident's words).

    A key is claimed ("pending", for about the call's longest time) before asking: a second worker on the same
    message meanwhile waits for that answer instead of asking too, and takes "no answer" if it never comes (the
    asker died; the claim lapses, and a later retry asks). Without Redis, or with Redis failing, it just asks."""
    if redis is None:
        return ask_outside(settings, q, now, redis)
    # the id alone could name another message after a database is restored or recreated under the same Redis
    digest = hashlib.blake2b(q.text.encode(), digest_size=8).hexdigest()
    key = f"{settings.redis_prefix}llm:answer:{inbound_id}:{digest}"
    longest = 2 * q.cfg.timeout + 5
    try:
        claimed = bool(redis.set(key, _PENDING, nx=True, ex=int(longest)))
    except Exception as exc:  # noqa: BLE001 - Redis down or slow: the memo is an economy, not a condition
        log.warning("llm: Redis unavailable (%s); asking without keeping the answer [%s]",
                    exc.__class__.__name__, q.ref)
        return ask_outside(settings, q, now, redis)
    if not claimed:
        return _kept_answer(redis, key, longest, q.ref)
    try:
        answer = ask_outside(settings, q, now, redis)
    except BaseException:                 # an interrupt (the job's time-out): let a retry ask
        _forget(redis, key)
        raise
    try:
        redis.set(key, _dump(answer), ex=ANSWER_KEPT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - the answer is used anyway; only a retry would ask again
        log.warning("llm: could not keep the answer in Redis (%s) [%s]", exc.__class__.__name__, q.ref)
    return answer


def _kept_answer(redis: Any, key: str, longest: float, ref: str) -> Answer | None:
    """The answer another run asked for (or is asking for now: waited for, up to the call's longest time)."""
    deadline = monotonic() + longest
    try:
        while (value := redis.get(key)) == _PENDING and monotonic() < deadline:
            sleep(0.1)
    except Exception as exc:  # noqa: BLE001 - Redis gone meanwhile: handled as without the model
        log.warning("llm: Redis unavailable (%s); no answer [%s]", exc.__class__.__name__, ref)
        return None
    if value is None or value == _PENDING:
        log.warning("llm: another run was asking the model and gave no answer in time; handled without it [%s]", ref)
        return None
    return _load(value)


def _forget(redis: Any, key: str) -> None:
    with suppress(Exception):     # the claim lapses by itself
        redis.delete(key)


def _dump(answer: Answer | None) -> bytes:
    if answer is None:
        return b"null"
    return json.dumps({"is_request": answer.is_request, "urgent": answer.urgent,
                       "category": answer.category}).encode()


def _load(value: bytes | str) -> Answer | None:
    try:
        data = json.loads(value)
        if data is None:
            return None
        return Answer(is_request=bool(data["is_request"]), urgent=bool(data["urgent"]),
                      category=data["category"] if data["category"] in CATEGORY_CODES else None, reason="")
    except (ValueError, KeyError, TypeError):
        log.warning("llm: a kept answer is unreadable; handled without it")
        return None


def apply(q: Question, answer: Answer | None) -> Understanding:
    """The question's understanding with the answer merged (raise only); unchanged when there is no answer."""
    u = q.understanding
    if answer is None:
        return u
    out = merge(u, answer, is_unsure(u, q.cfg))
    if out is not u:
        log.info("llm: 大模型将消息%s [%s]", "提为紧急" if out.is_urgent else "认定为诉求", q.ref)
    return out


def second_opinion(settings: Settings, text: str, u: Understanding, now: datetime, redis: Any = None,
                   ref: str = "message") -> Understanding:
    """`u`, raised by the large model's answer where it says more (see the module). Never raises, never lowers.
    `ref` names the message in the operator log ("inbound 42"): the log never holds the resident's words.

    All in one go, the call included: for callers with no transaction open. The chat path (handlers/tickets.py in
    process()) uses question() / AskFirst / ask_outside() / apply() instead, to ask outside its row lock."""
    q = question(settings, text, u, ref)
    if q is None:
        return u
    return apply(q, ask_outside(settings, q, now, redis))
