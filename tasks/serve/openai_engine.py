"""The chat's OpenAI-compatible engine: `/v1/chat/completions` with the trained tools, as llama.cpp's llama-server,
llama-cpp-python's server, vLLM, LM Studio and Ollama's /v1 serve it.

    python -m tasks.serve.chat --engine openai --base-url http://127.0.0.1:8080/v1 --model weatherman --ask "..."
    make ask ENGINE=openai BASE_URL=http://127.0.0.1:8080/v1 MODEL=weatherman Q="Will it rain in Lisbon tomorrow?"

The request carries the conversation in the OpenAI format (arguments as JSON strings, each tool result with its
call's id), `tools` from configs/tools.json, greedy decoding (temperature 0) and a token limit. A server that
parses the model's calls (llama-server --jinja, vLLM with a tool parser, Ollama) returns them as
`message.tool_calls`; one that leaves them in the text (llama-cpp-python with the adapter's own chat template)
returns ` [TOOL_CALLS] [...]` as `content`, which is parsed as training wrote it (tasks/serve/evaluate.py).

The key: --api-key, else OPENAI_API_KEY (none for a local server); it is sent as a bearer token and never
printed. The model: --model, else OPENAI_MODEL, else `weatherman`. The base URL: --base-url, else
OPENAI_BASE_URL, else http://127.0.0.1:8080/v1 (llama-server's default port); `/v1` is added when missing.
Every failure (no server, a rejected key, an unknown model, no reply in time, a reply that is not a chat
completion, a call whose arguments do not parse) is one ui.Fail line that names the server and the fix.
"""

from __future__ import annotations

import json
import os
import random
import socket
import urllib.error
import urllib.request

from tasks import ui

TAG = "CHAT"
DEFAULT_BASE_URL = "http://127.0.0.1:8080/v1"
DEFAULT_MODEL = "weatherman"
TIMEOUT_S = 300.0
MAX_TOKENS = 320


def base_url(value: str | None) -> str:
    """The API root ending in /v1: `http://host:port`, `host:port` and `.../v1/` all name the same one."""
    value = (value or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
    if "://" not in value:
        value = "http://" + value
    if value.endswith("/chat/completions"):
        value = value[: -len("/chat/completions")]
    return value if value.endswith("/v1") else value + "/v1"


class MalformedReply(ui.Fail):
    """The server answered, but not with a usable assistant message (or with a call that does not parse)."""


class OpenAIEngine:
    """One chat completion per model step; the reply becomes the loop's assistant message."""

    def __init__(self, url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout: float = TIMEOUT_S, max_tokens: int = MAX_TOKENS):
        self.url = base_url(url)
        self.model = model or os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL
        self._key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.rng = random.Random()

    def __repr__(self) -> str:  # the key stays out of every printed form
        return f"OpenAIEngine({self.url!r}, model={self.model!r}, key={'set' if self._key else 'none'})"

    def check(self, timeout: float = 10.0) -> list[str]:
        """The model ids the server lists (GET /v1/models); one ui.Fail line when it cannot be reached."""
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{self.url}/models", headers=headers), timeout=timeout) as response:
                listed = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ui.Fail(f"OpenAI-compatible server at {self.url}: HTTP {exc.code} for /models ({_error_text(exc)}); "
                          "check BASE_URL and OPENAI_API_KEY") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ui.Fail(f"OpenAI-compatible server at {self.url}: not reachable ({getattr(exc, 'reason', exc)}); start the server "
                          "(docs/DEPLOYMENT.md) or set BASE_URL to where it listens") from exc
        return [m.get("id") for m in listed.get("data", []) if isinstance(m, dict)] if isinstance(listed, dict) else []

    def request(self, messages: list[dict]) -> dict:
        """The raw chat completion for `messages` (the trained tools offered)."""
        from tasks.train.template import TOOLS

        body = {"model": self.model, "messages": [to_openai(m) for m in messages], "tools": TOOLS,
                "temperature": 0, "max_tokens": self.max_tokens, "stream": False}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(f"{self.url}/chat/completions", data=json.dumps(body).encode(), headers=headers)
        where = f"OpenAI-compatible server at {self.url}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_text(exc)
            hint = {401: "the key was refused: set OPENAI_API_KEY (or --api-key) to the server's key",
                    403: "the key was refused: set OPENAI_API_KEY (or --api-key) to the server's key",
                    404: f"no such model or path: check MODEL={self.model} against the server's /v1/models and BASE_URL"}.get(
                        exc.code, "see the server's log")
            raise ui.Fail(f"{where}: HTTP {exc.code}" + (f" ({detail})" if detail else "") + f"; {hint}") from exc
        except (TimeoutError, socket.timeout) as exc:
            raise ui.Fail(f"{where}: no reply within {self.timeout:g} s; is the model loaded, or too large for the machine?") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise ui.Fail(f"{where}: no reply within {self.timeout:g} s; is the model loaded, or too large for the machine?") from exc
            raise ui.Fail(f"{where}: not reachable ({reason}); start the server (docs/DEPLOYMENT.md) or set BASE_URL "
                          "to where it listens") from exc
        try:
            reply = json.loads(raw)
            message = reply["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise MalformedReply(f"{where}: the reply is not a chat completion ({type(exc).__name__}: {str(exc)[:80]}; "
                                 f"starts {raw[:80]!r}); is BASE_URL an OpenAI-compatible /v1?") from exc
        return message

    def __call__(self, messages: list[dict]) -> dict:
        from tasks.serve.chat import assistant_message, new_call_id

        message = self.request(messages)
        calls = message.get("tool_calls") or []
        content = message.get("content") or ""
        if not calls:
            # A server without a tool parser returns the trained text form of a call; it is read as training wrote it.
            return assistant_message(content, self.rng) if "[TOOL_CALLS]" in content else {"role": "assistant", "content": content.strip()}
        out = []
        for c in calls:
            f = c.get("function") if isinstance(c, dict) else None
            name = f.get("name") if isinstance(f, dict) else None
            args = f.get("arguments") if isinstance(f, dict) else None
            try:
                args = json.loads(args) if isinstance(args, str) and args.strip() else (args or {})
            except ValueError:
                args = None
            if not isinstance(name, str) or not isinstance(args, dict):
                raise MalformedReply(f"the model at {self.url} wrote a tool call that does not parse "
                                     f"({json.dumps(c, ensure_ascii=False)[:120]}); rephrase the question, or check the "
                                     "server's chat template (docs/DEPLOYMENT.md)")
            # Servers invent their own ids (call_...); the model was trained on nine letters and digits.
            out.append({"id": new_call_id(self.rng), "type": "function", "function": {"name": name, "arguments": args}})
        return {"role": "assistant", "content": content.strip() or None, "tool_calls": out}


def to_openai(message: dict) -> dict:
    """A loop message in the OpenAI wire format: arguments as JSON strings (as the spec and vLLM require)."""
    out = {"role": message["role"], "content": message.get("content")}
    if message.get("tool_calls"):
        out["tool_calls"] = [{"id": tc["id"], "type": "function",
                              "function": {"name": tc["function"]["name"],
                                           "arguments": tc["function"]["arguments"] if isinstance(tc["function"]["arguments"], str)
                                           else json.dumps(tc["function"]["arguments"], ensure_ascii=False)}}
                             for tc in message["tool_calls"]]
    if message["role"] == "tool":
        out["tool_call_id"] = message["tool_call_id"]
    if out["content"] is None and message["role"] != "assistant":
        out["content"] = ""
    return out


def _error_text(exc: urllib.error.HTTPError) -> str:
    """The server's own error message, short; never the request (which may carry the key)."""
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    detail = error if isinstance(error, str) else (body.get("detail") if isinstance(body, dict) else None)
    return str(detail)[:160] if detail else ""
