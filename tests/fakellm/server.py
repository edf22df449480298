"""FakeLLM: a real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol, for tests.

    with FakeLLM() as fake:
        fake.answers["楼上一直在滴水"] = {"is_request": True, "urgent": False, "category": "repair", "reason": "漏水"}
        fake.mode = "ok" | "slow" | "drip" | "error" | "garbage" | "not_schema"
        settings: GRIDBOT_LLM_BASE_URL=fake.base_url

It checks what a strict-schema server checks: POST {base}/chat/completions, the Bearer key when one is set, a model
name, a system and a user message, and `response_format` = json_schema with strict true and an object schema whose
required keys are all its properties and additionalProperties false (else HTTP 400, like a real server). It answers
the canned JSON for the user message (default: not a request). `calls` lists the request bodies it received.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NOT_A_REQUEST = {"is_request": False, "urgent": False, "category": None, "reason": "闲聊"}


class FakeLLM:
    def __init__(self, api_key: str | None = "test-key", slow_seconds: float = 3.0) -> None:
        self.api_key = api_key
        self.slow_seconds = slow_seconds
        self.answers: dict[str, dict[str, Any]] = {}
        self.mode = "ok"
        self.calls: list[dict[str, Any]] = []
        self.refused: list[str] = []       # why requests were answered 400/401
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:   # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, payload = fake._answer(self.path, self.headers.get("Authorization"), raw)
                if fake.mode == "slow":
                    time.sleep(fake.slow_seconds)
                body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if fake.mode == "drip":           # headers at once, then the body a byte per slow_seconds
                        for i in range(len(body)):
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(fake.slow_seconds)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):   # the client gave up (timeout)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the protocol ---------------------------------------------------------------------------------------------
    def _refuse(self, status: int, why: str) -> tuple[int, dict[str, Any]]:
        self.refused.append(why)
        return status, {"error": {"message": why, "type": "invalid_request_error"}}

    def _answer(self, path: str, auth: str | None, raw: bytes) -> tuple[int, Any]:
        if path != "/v1/chat/completions":
            return self._refuse(404, f"no route {path}")
        if self.api_key and auth != f"Bearer {self.api_key}":
            return self._refuse(401, "bad key")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse(400, "body is not JSON")
        why = _schema_problem(body)
        if why:
            return self._refuse(400, why)
        self.calls.append(body)
        if self.mode == "error":
            return 500, {"error": {"message": "internal error", "type": "server_error"}}
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if self.mode == "garbage":
            content = "我觉得这条消息很紧急！"          # prose instead of JSON
        elif self.mode == "not_schema":
            content = json.dumps({"urgent": "yes", "level": 5})
        else:
            content = json.dumps(self.answers.get(user, NOT_A_REQUEST), ensure_ascii=False)
        return 200, {"id": f"chatcmpl-{len(self.calls)}", "object": "chat.completion", "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": content}}]}


# The chat-completions arguments an OpenAI-compatible server knows; any other is refused ("Unrecognized request
# argument supplied"), as OpenAI does: a typo in gridbot's request must fail here, not in a county's deployment.
KNOWN_ARGUMENTS = {"model", "messages", "temperature", "top_p", "n", "stream", "stop", "max_tokens",
                   "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "user", "seed",
                   "response_format", "tools", "tool_choice", "logprobs", "top_logprobs", "stream_options"}
ROLES = {"system", "developer", "user", "assistant", "tool"}


def _schema_problem(body: Any) -> str | None:
    """What a strict json_schema server would refuse in this request, or None."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return "no model"
    unknown = set(body) - KNOWN_ARGUMENTS
    if unknown:
        return f"unrecognized request argument supplied: {sorted(unknown)[0]}"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return "each message needs a known role and a string content"
    roles = [m["role"] for m in messages]
    if "system" not in roles or "user" not in roles:
        return "needs a system and a user message"
    temperature = body.get("temperature", 1)
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        return "temperature must be a number from 0 to 2"
    max_tokens = body.get("max_tokens", 1)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens must be a positive integer"
    if not isinstance(body.get("stream", False), bool):
        return "stream must be a boolean"
    fmt = body.get("response_format") or {}
    if fmt.get("type") != "json_schema":
        return "response_format.type is not json_schema"
    spec = fmt.get("json_schema") or {}
    if spec.get("strict") is not True or not spec.get("name"):
        return "json_schema needs a name and strict: true"
    schema = spec.get("schema") or {}
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        return "strict schema must be an object with additionalProperties false"
    if set(schema.get("required") or []) != set(schema.get("properties") or {}):
        return "strict schema must require every property"
    return None
