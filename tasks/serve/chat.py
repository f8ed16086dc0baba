"""Talk to the weatherman: the model calls the weather tools, this chat runs them against Open-Meteo, the model answers.

    python -m tasks.serve.chat --adapter adapters/weatherman-lora-h100 --persona twain           # interactive
    python -m tasks.serve.chat --adapter adapters/weatherman-lora-cpu --ask "Will it rain in Lisbon tomorrow?"
    python -m tasks.serve.chat --engine ollama --model weatherman --ask "What's the weather in Oslo?"
    make chat ADAPTER=adapters/weatherman-lora-h100 PERSONA=twain
    make ask Q="Will it rain in Lisbon tomorrow?" [ADAPTER=...] [PERSONA=...] [ENGINE=ollama]

The tool loop, as in training: the persona's system prompt and the user's question go to the model;
when it answers with a tool call (` [TOOL_CALLS] [...]`, parsed by tasks/serve/evaluate.py's parser)
the chat runs the call (tasks/serve/tools.py: the real Open-Meteo APIs, mapped to the trained
shapes), appends the assistant message with `tool_calls` and a `tool` message with the result and
the call's id (the OpenAI format of the data), and asks the model again; at most --max-tool-rounds
rounds, then the plain answer is printed. Each tool call and a short form of its result are printed
as `[CHAT]` lines; in --ask mode the answer is the last line.

Engines:
- local: transformers + PEFT on CUDA, MPS or CPU (tasks/serve/evaluate.py's loading), for every
  adapter including the CPU demo's; the base is the one the adapter's adapter_config.json names and
  the prompt is rendered with the chat template saved beside the adapter.
- ollama: Ollama's /api/chat with configs/tools.json (`make export`, then `ollama create`); Ollama
  parses the calls into `message.tool_calls`; OLLAMA_HOST read as the ollama CLI reads it
  (default 127.0.0.1:11434).
- openai: any OpenAI-compatible `/v1/chat/completions` (llama-server, llama-cpp-python's server, vLLM,
  LM Studio, Ollama's /v1): --base-url / OPENAI_BASE_URL, --model / OPENAI_MODEL, --api-key /
  OPENAI_API_KEY (never printed); tasks/serve/openai_engine.py.

Failures end the question with one line and exit 1 (the chat prints the line and keeps the session): a
server that is not reachable, a call that does not parse, more than --max-tool-rounds rounds, and a
tool whose service timed out or failed (the model's explanation is printed first, as trained).

The interactive chat needs a terminal and refuses at once without one (use --ask / `make ask`).
In the chat, /reset starts a new conversation and /quit (or Ctrl-D) ends it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import string
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tasks import ui
from tasks.config import default_profile, load_config, PROFILE_CONFIGS, project_path
from tasks.serve import tools

TAG = "CHAT"
PERSONAS = ("twain", "franklin", "onion", "neutral")
MAX_TOOL_ROUNDS = 4  # the longest trained conversations use two calls per question (geocode, then weather)
MAX_NEW_TOKENS = 320
GENERATION_TIME_S = 180.0
OLLAMA_TIMEOUT_S = 300.0


def new_call_id(rng: random.Random | None = None) -> str:
    """Nine letters and digits, like the ids in the training data."""
    rng = rng or random.Random()
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(9))


def assistant_message(text: str, rng: random.Random | None = None) -> dict:
    """A model continuation as an OpenAI assistant message: `tool_calls` when it is a valid call, else the text."""
    from tasks.serve.evaluate import parse_output

    parsed = parse_output(text)
    if parsed["called"] and parsed["valid"]:
        # Text the model wrote before its call stays with it, as the template renders such a message.
        return {"role": "assistant", "content": parsed["text"] or None, "tool_calls": [
            {"id": new_call_id(rng), "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in parsed["calls"]]}
    if parsed["called"]:
        raise MalformedCall(f"the model wrote a tool call that does not parse ({text.strip()[:120]!r}); nothing was run: "
                            "rephrase the question (/reset starts over), or raise --max-new-tokens if the call was cut off")
    return {"role": "assistant", "content": text.strip()}


class MalformedCall(ui.Fail):
    """The model began a tool call that does not parse as the trained format."""


class ToolLoopExhausted(ui.Fail):
    """The model kept calling tools past the round limit."""


class NoAnswer(ui.Fail):
    """The model ended its turn with nothing to say (an end-of-turn token where the answer belongs)."""


NO_ANSWER = ("the model ended its turn without an answer{after}; ask again or rephrase (an undertrained adapter or a "
             "heavily quantized file does this: make eval scores whole answers)")


def _no_answer(messages: list[dict], before: int) -> NoAnswer:
    rounds = sum(1 for m in messages[before:] if m.get("role") == "tool")
    return NoAnswer(NO_ANSWER.format(after=f" after {rounds} tool result(s)" if rounds else ""))


class ToolFailed(ui.Fail):
    """The answer was written without weather data: a tool timed out or its service failed."""


# The tool results that mean the service, not the arguments, failed (the model is trained to explain them).
SERVICE_FAILURES = (tools.TIMED_OUT, tools.SERVER_ERROR, tools.UNAVAILABLE, tools.RATE_LIMITED, tools.RESET, tools.UPSTREAM)


def answer(reply: Callable[[list[dict]], dict], messages: list[dict], *, max_rounds: int = MAX_TOOL_ROUNDS,
           run_tool: Callable[[str, dict], dict] | None = None, show: Callable[[str], None] | None = None,
           failures: list[str] | None = None) -> str:
    """Run the tool loop on `messages` (appended to in place) and return the model's plain answer.

    `reply(messages)` is the engine: it returns the next assistant message (with `tool_calls` or `content`).
    Tool results that are service failures (a timeout, an HTTP 5xx) are appended to `failures`: the model
    still sees them and explains, as trained; the caller decides what they mean for the exit status.
    """
    show = show or (lambda line: ui.info(TAG, line))
    run_tool = run_tool or tools.call
    rounds = 0
    failures = [] if failures is None else failures
    while True:
        message = reply(messages)
        messages.append(message)
        if not message.get("tool_calls"):
            return message.get("content") or ""
        if rounds == max_rounds:
            raise ToolLoopExhausted(f"no answer after {max_rounds} tool rounds: the model keeps calling tools "
                                    f"(last: {message['tool_calls'][0]['function']['name']}); raise --max-tool-rounds or rephrase")
        rounds += 1
        for tc in message["tool_calls"]:
            name, args = tc["function"]["name"], tc["function"]["arguments"]
            result = run_tool(name, args)
            show(f"tool {name} {json.dumps(args, ensure_ascii=False)} -> {summary(result)}")
            if result.get("error") and result.get("reason") in SERVICE_FAILURES:
                failures.append(f"{name}: {result['reason']}" + (f" (no answer within {tools.TIMEOUT_S:g} s)" if result["reason"] == tools.TIMED_OUT else ""))
            messages.append({"role": "tool", "tool_call_id": tc["id"],
                             "content": json.dumps(result, ensure_ascii=False, separators=(",", ":"))})


def summary(result: dict) -> str:
    """One short line about a tool result, for people watching the loop."""
    if result.get("error"):
        return f"error: {result['reason']}"
    if "results" in result:
        if not result["results"]:
            return "no place found"
        r = result["results"][0]
        return f"{r.get('name')}, {r.get('country', '?')} ({r['latitude']}, {r['longitude']})"
    if "current" in result:
        c = result["current"]
        return f"{c['time']}: {c['temperature_2m']} °C, {c['weather_description']}"
    if "daily" in result:
        d = result["daily"]
        return f"{len(d['time'])} day(s) from {d['time'][0] if d['time'] else '?'}: {', '.join(str(x) for x in d['weather_description'][:3])}"
    return json.dumps(result, ensure_ascii=False)[:120]


# ----------------------------------------------------------------- engines


class LocalEngine:
    """The adapter on its base with transformers + PEFT; generation as in `make eval`, longer."""

    def __init__(self, cfg: dict, adapter: Path, max_new_tokens: int = MAX_NEW_TOKENS, generate: Callable | None = None):
        from tasks.serve import evaluate
        from tasks.train import train

        train.quiet_libraries()
        if not (adapter / "adapter_config.json").is_file():
            raise ui.Fail(f"{adapter}: no adapter_config.json (train first, `make demo` for a CPU one, or pass ADAPTER=adapters/<run>)")
        cfg["model"]["base"] = base_of(adapter, cfg)
        evaluate.check_base(train.resolve_base(cfg), adapter)
        ui.info(TAG, f"Loading {adapter} on {cfg['model']['base']} ...")
        self.model, self.tok, self.choice = evaluate.load(cfg, adapter)
        ui.info(TAG, f"Device {self.choice.reason}")
        self.max_new_tokens = max_new_tokens
        self.max_length = cfg["data"]["max_seq_length"]
        self._generate = generate or evaluate.generate
        self.rng = random.Random()

    def __call__(self, messages: list[dict]) -> dict:
        from tasks.train.template import TOOLS

        n = len(self.tok.apply_chat_template(messages, tools=TOOLS, tokenize=True, return_dict=True)["input_ids"])
        if n + self.max_new_tokens > self.max_length:
            ui.warning(f"[{TAG}] The conversation is {n} tokens; with a reply of up to {self.max_new_tokens} it passes the "
                       f"{self.max_length} the adapter was trained on: answers may degrade (/reset starts over)")
        text = self._generate(self.model, self.tok, messages, TOOLS, self.max_new_tokens, GENERATION_TIME_S, self.choice.device)
        return assistant_message(text, self.rng)


def base_of(adapter: Path, cfg: dict) -> str:
    """The base the adapter's adapter_config.json names: a Hub id, or a folder when it exists here;
    the config's base when the adapter names none, or names a tiny demo base folder made elsewhere."""
    recorded = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not recorded or recorded == cfg["model"]["base"]:
        return cfg["model"]["base"]
    folder = Path(recorded).expanduser()
    if folder.is_dir():
        return str(folder)
    if cfg["model"]["base"] == "tiny":
        return "tiny"  # built again here from the config, with the same seed and shapes (check_base still compares)
    if folder.is_absolute() or recorded.startswith((".", "~")):
        raise ui.Fail(f"{adapter}/adapter_config.json: base {recorded!r} is a folder that is not on this machine; "
                      "copy it here or pass --set model.base=<Hub id or folder of the same model>")
    return recorded


def ollama_url(value: str) -> str:
    """OLLAMA_HOST read as the ollama CLI reads it (envconfig.Host in ollama/ollama): scheme optional (http), host
    127.0.0.1 and port 11434 when left out, but port 80 or 443 after an explicit http:// or https://; a port that
    is not a number is replaced by the default, with a warning. A bind-all address (0.0.0.0, ::), which a server
    set up for Docker or the LAN listens on, is reached at loopback."""
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    default_port = {"http": "80", "https": "443"}.get(scheme, "11434") if sep else "11434"
    if not sep:
        scheme, rest = "http", value
    hostport, _, path = rest.partition("/")
    if hostport.startswith("[") and "]" in hostport:  # [::1] or [::1]:port
        host, _, tail = hostport[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else default_port
    elif hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    else:
        host, port = hostport, default_port
    if not (port.isdigit() and int(port) <= 65535):
        ui.warning(f"[{TAG}] OLLAMA_HOST={value!r}: port {port!r} is not a number from 0 to 65535; using {default_port}, as ollama does")
        port = default_port
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}" + (f"/{path.strip('/')}" if path.strip("/") else "")


class OllamaEngine:
    """Ollama's /api/chat with the trained tool schemas; its parsed `tool_calls` become the loop's calls."""

    def __init__(self, model: str, host: str | None = None, timeout: float = OLLAMA_TIMEOUT_S):
        self.model = model
        self.host = ollama_url(host if host is not None else os.environ.get("OLLAMA_HOST", ""))
        self.timeout = timeout
        self.rng = random.Random()

    def __call__(self, messages: list[dict]) -> dict:
        from tasks.train.template import TOOLS

        body = {"model": self.model, "messages": [to_ollama(m) for m in messages], "tools": TOOLS, "stream": False}
        request = urllib.request.Request(f"{self.host}/api/chat", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = _error_text(exc)
            hint = (f"create it: cd exports/<run> && ollama create {self.model} -f Modelfile (after `make export`)"
                    if exc.code == 404 else "see `ollama serve`'s log")
            raise ui.Fail(f"Ollama at {self.host}: HTTP {exc.code} for model {self.model!r} ({detail}); {hint}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ui.Fail(f"Ollama at {self.host}: not reachable ({getattr(exc, 'reason', exc)}); start it (`ollama serve`) "
                          "or set OLLAMA_HOST to where it listens") from exc
        except ValueError as exc:
            raise ui.Fail(f"Ollama at {self.host}: the reply is not JSON ({exc})") from exc
        message = reply.get("message") or {}
        calls = message.get("tool_calls") or []
        if calls:
            # Ollama returns the text before a call as `content` (with the space the template puts before it).
            return {"role": "assistant", "content": (message.get("content") or "").strip() or None, "tool_calls": [
                # Ollama rewrites call ids (call_<random>); the model was trained on nine letters and digits.
                {"id": new_call_id(self.rng), "type": "function",
                 "function": {"name": c["function"]["name"], "arguments": _arguments(c["function"].get("arguments"))}}
                for c in calls]}
        content = message.get("content") or ""
        if not content.strip():
            ui.warning(f"[{TAG}] Ollama returned neither text nor a tool call (it drops a call it cannot parse, or one to a "
                       "tool not in the request; an old Ollama may also fail on the template: see docs/DEPLOYMENT.md)")
        if content.lstrip().startswith("[TOOL_CALLS]"):
            # Ollama leaves a call it cannot parse (or one to a tool not in `tools`) in the text.
            return assistant_message(content, self.rng)
        return {"role": "assistant", "content": content.strip()}


def to_ollama(message: dict) -> dict:
    """An OpenAI-format message as Ollama's /api/chat takes it: arguments as objects, ids kept (Ollama 0.12.10+)."""
    out = {"role": message["role"], "content": message.get("content") or ""}
    if message.get("tool_calls"):
        out["tool_calls"] = [{"id": tc["id"], "function": {"name": tc["function"]["name"], "arguments": _arguments(tc["function"]["arguments"])}}
                             for tc in message["tool_calls"]]
    if message["role"] == "tool":
        out["tool_call_id"] = message["tool_call_id"]
    return out


def _arguments(args) -> dict:
    if isinstance(args, str):
        try:
            return json.loads(args) if args.strip() else {}
        except ValueError:
            return {}
    return args or {}


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return json.loads(exc.read()).get("error", "")
    except (ValueError, OSError, AttributeError):
        return ""


# ----------------------------------------------------------------- the two ways to talk


def conversation(persona: str, today: dt.date | None = None) -> list[dict]:
    """The persona's system prompt with today's date, word for word as training wrote it (weekdays and
    "tomorrow" then mean what the user means)."""
    from tasks.data.personas import system_prompt

    return [{"role": "system", "content": system_prompt(persona, today or dt.date.today())}]


def ask(engine, persona: str, question: str, max_rounds: int) -> str:
    messages = conversation(persona) + [{"role": "user", "content": question}]
    failures: list[str] = []
    text = answer(engine, messages, max_rounds=max_rounds, failures=failures)
    if not text.strip():
        # A blank line with exit 0 would pass for an answer in a script.
        raise _no_answer(messages, 2)
    print(text, flush=True)
    if failures:
        # The model's explanation is printed, but a script must not take it for a forecast.
        raise ToolFailed(f"the answer has no weather data: {'; '.join(failures)}; try again later "
                         "(OPEN_METEO_GEOCODING_URL / OPEN_METEO_FORECAST_URL name other endpoints)")
    return text


def interactive(engine, persona: str, max_rounds: int, read: Callable[[str], str] = input) -> None:
    messages = conversation(persona)
    ui.info(TAG, f"Persona {persona}. Ask about the weather anywhere; /reset starts over, /quit or Ctrl-D ends.")
    while True:
        try:
            line = read("you> ").strip()
        except EOFError:
            print()
            return
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return
        if line == "/reset":
            messages = conversation(persona)
            ui.info(TAG, "New conversation.")
            continue
        before = len(messages)
        messages.append({"role": "user", "content": line})
        failures: list[str] = []
        try:
            text = answer(engine, messages, max_rounds=max_rounds, failures=failures)
            if not text.strip():
                raise _no_answer(messages, before + 1)
        except ui.Fail as exc:
            # A runaway loop, a broken call, a server that went away: one line, the question dropped, the session kept.
            ui.warning(f"[{TAG}] {exc}")
            del messages[before:]
            continue
        print(f"weatherman> {text}", flush=True)
        if failures:
            ui.warning(f"[{TAG}] That answer has no weather data ({'; '.join(failures)}); ask again later")


def run(question: str | None, engine_name: str, adapter: str | None, config: str | None, overrides: list[str],
        persona: str, model: str | None, max_rounds: int, max_new_tokens: int, base_url: str | None = None,
        api_key: str | None = None) -> None:
    if persona not in PERSONAS:
        raise ui.Fail(f"--persona {persona}: unknown (expected one of {', '.join(PERSONAS)})")
    if question is None and not ui.is_interactive():
        # Checked before any model loads: a chat without a terminal would wait for input forever.
        raise ui.Fail("make chat needs a terminal to type in; for scripts ask one question: "
                      "make ask Q=\"Will it rain in Lisbon tomorrow?\" (python -m tasks.serve.chat --ask \"...\")")
    if question is not None and not question.strip():
        raise ui.Fail("Q is empty: make ask Q=\"Will it rain in Lisbon tomorrow?\"")
    if engine_name == "ollama":
        engine = OllamaEngine(model or os.environ.get("OLLAMA_MODEL") or "weatherman")
        ui.info(TAG, f"Engine: Ollama model {engine.model!r} at {engine.host}")
    elif engine_name == "openai":
        from tasks.serve.openai_engine import OpenAIEngine

        engine = OpenAIEngine(base_url, model, api_key, max_tokens=max_new_tokens)
        ui.info(TAG, f"Engine: OpenAI-compatible server at {engine.url}, model {engine.model!r}"
                     + (", key from " + ("--api-key" if api_key is not None else "OPENAI_API_KEY") if engine._key else ", no key"))
    else:
        cfg = load_config(config or _adapter_config(adapter) or PROFILE_CONFIGS[default_profile()], overrides)
        engine = LocalEngine(cfg, project_path(adapter or cfg["output_dir"]), max_new_tokens)
    geocoding, forecast = tools.endpoints()
    if (geocoding, forecast) != (tools.GEOCODING_URL, tools.FORECAST_URL):
        ui.info(TAG, f"Open-Meteo endpoints from the environment: {geocoding}, {forecast}")
    if question is not None:
        ask(engine, persona, question, max_rounds)
    else:
        interactive(engine, persona, max_rounds)


def _adapter_config(adapter: str | None) -> Path | None:
    """The resolved config saved beside the adapter when it was trained on this machine's kind of device."""
    if not adapter:
        return None
    path = project_path(adapter) / "training_config.resolved.yaml"
    if not path.is_file():
        return None
    from tasks.config import read_yaml

    return path if (read_yaml(path) or {}).get("profile") == default_profile() else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ask", dest="question", default=None, metavar="QUESTION", help="ask one question, print the answer, exit (for scripts)")
    parser.add_argument("--engine", choices=("local", "ollama", "openai"), default="local",
                        help="local: transformers + PEFT; ollama: /api/chat; openai: any /v1/chat/completions server")
    parser.add_argument("--adapter", default=None, help="adapter folder for the local engine (default: the config's output_dir)")
    parser.add_argument("--config", default=None, help="training config for device and base (default: the adapter's resolved "
                                                       "config when trained on this kind of machine, else this machine's profile)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    parser.add_argument("--persona", default="neutral", help=f"the voice: {', '.join(PERSONAS)}")
    parser.add_argument("--model", default=None, help="model name on the server (default: OLLAMA_MODEL or OPENAI_MODEL, else weatherman)")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible API root (openai engine; default: OPENAI_BASE_URL, "
                                                         "else http://127.0.0.1:8080/v1)")
    parser.add_argument("--api-key", default=None, help="the server's key (openai engine; default: OPENAI_API_KEY; never printed)")
    parser.add_argument("--max-tool-rounds", type=int, default=MAX_TOOL_ROUNDS, help="tool rounds per question at most")
    parser.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS, help="tokens per model reply at most (local engine)")
    args = parser.parse_args(argv)
    if args.max_tool_rounds < 1 or args.max_new_tokens < 1:
        parser.error("--max-tool-rounds and --max-new-tokens must be positive")
    return ui.main_guard(run, args.question, args.engine, args.adapter, args.config, args.overrides, args.persona,
                         args.model, args.max_tool_rounds, args.max_new_tokens, args.base_url, args.api_key)


if __name__ == "__main__":
    raise SystemExit(main())
