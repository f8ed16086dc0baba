"""make chat / make ask: the tools against recorded Open-Meteo answers on a local server (shapes, units and
descriptions exactly as trained; every failure as a trained error result), the tool loop with a scripted model,
the real tiny adapter through `make ask`, the Ollama engine against a fake /api/chat, and no hang without a terminal."""

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tasks.data import gazetteer, generate, weather
from tasks.data.convo import errors as error_kinds
from tasks.data.personas import system_prompt
from tasks.serve import chat, tools
from tests.helpers_after_training import ROOT, make_adapter
from tests.helpers_serve import Server

LISBON = {"name": "Lisbon", "latitude": 38.72, "longitude": -9.13, "elevation": 45.0, "country": "Portugal", "country_code": "PT"}
QUESTION = "Will it rain in Lisbon tomorrow?"


# ----------------------------------------------------------------- the tools: trained shapes


def test_geocode_maps_to_the_trained_shape(open_meteo):
    got = tools.call("geocode_location", {"city": "Lisbon"})
    assert got == {"results": [LISBON]}
    trained = weather.geocode_result(gazetteer.geocode_all("Lisbon"))
    assert list(got["results"][0]) == list(trained["results"][0])  # same fields in the same order
    assert open_meteo.requests == [("/v1/search", {"name": "Lisbon", "count": "10", "language": "en", "format": "json"})]


FILTER_CASES = json.loads((Path(__file__).parents[1] / "recordings" / "open-meteo" / "geocode_filter_cases.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda c: json.dumps(c["args"], ensure_ascii=False))
def test_geocode_filter_matches_country_then_region_then_falls_back(open_meteo, case):
    got = tools.call("geocode_location", case["args"])["results"]
    assert [[r["country_code"], r["latitude"]] for r in got] == case["want"]


def test_geocode_country_filters_by_name_or_code(open_meteo):
    maine = tools.call("geocode_location", {"city": "Lisbon", "country": "United States"})["results"][0]
    assert (maine["latitude"], maine["longitude"], maine["country_code"]) == (44.03, -70.1, "US")
    assert tools.call("geocode_location", {"city": "Lisbon", "country": "us"})["results"][0]["country"] == "United States"
    assert open_meteo.requests[-1][1]["countryCode"] == "US"  # a two-letter country goes to the API as countryCode
    assert tools.call("geocode_location", {"city": "Lisbon", "country": "France"}) == {"results": [LISBON]}  # no match: all
    assert tools.call("geocode_location", {"city": "Lisbon", "country": "USA"})["results"][0]["country_code"] == "US"  # an alias
    assert tools.call("geocode_location", {"city": "Lisbon, Portugal"}) == {"results": [LISBON]}  # the country inside `city`
    assert open_meteo.requests[-1][1]["name"] == "Lisbon"


def test_unknown_place_is_an_empty_result_as_trained(open_meteo):
    got = tools.call("geocode_location", {"city": "Xqzzyville"})
    assert got == {"results": []} == weather.geocode_result([])


def test_current_weather_maps_to_the_trained_shape(open_meteo):
    got = tools.call("get_current_weather", {"latitude": 38.72, "longitude": -9.13})
    assert got == {
        "latitude": 38.72, "longitude": -9.13,
        "current_units": {"temperature_2m": "°C", "apparent_temperature": "°C", "relative_humidity_2m": "%",
                          "precipitation": "mm", "wind_speed_10m": "km/h"},
        "current": {"time": "2026-12-01T14:45", "temperature_2m": 15.2, "apparent_temperature": 13.9, "relative_humidity_2m": 81,
                    "precipitation": 0.3, "weather_code": 61, "weather_description": "light rain", "wind_speed_10m": 18.4},
    }
    trained = weather.current(gazetteer.geocode("Lisbon"), dt.datetime(2025, 1, 15, 14), "0")
    assert list(got) == list(trained) and list(got["current"]) == list(trained["current"])
    assert got["current_units"] == trained["current_units"]
    path, query = open_meteo.requests[0]
    assert path == "/v1/forecast" and query["timezone"] == "auto" and query["latitude"] == "38.72"
    assert query["current"].split(",") == list(tools.CURRENT_FIELDS)


def test_forecast_maps_to_the_trained_shape_with_days_rows(open_meteo):
    got = tools.call("get_forecast", {"latitude": 38.72, "longitude": -9.13, "days": 2})
    assert got == {
        "latitude": 38.72, "longitude": -9.13,
        "daily_units": {"temperature_2m_max": "°C", "temperature_2m_min": "°C", "precipitation_sum": "mm", "precipitation_probability_max": "%"},
        "daily": {"time": ["2026-12-01", "2026-12-02"], "weather_code": [61, 80], "weather_description": ["light rain", "rain showers"],
                  "temperature_2m_max": [15.8, 14.9], "temperature_2m_min": [10.9, 9.7], "precipitation_sum": [4.2, 7.9],
                  "precipitation_probability_max": [84, 90]},
    }
    trained = weather.forecast(gazetteer.geocode("Lisbon"), dt.date(2025, 1, 15), 2, "0")
    assert list(got) == list(trained) and list(got["daily"]) == list(trained["daily"]) and got["daily_units"] == trained["daily_units"]
    assert open_meteo.requests[0][1]["forecast_days"] == "2"


def test_codes_the_generator_never_draws_are_described_and_missing_values_stay_null(open_meteo):
    week = tools.call("get_forecast", {"latitude": 38.72, "longitude": -9.13, "days": 7})["daily"]
    assert week["weather_description"][4:6] == ["heavy drizzle", "thunderstorms with hail"]  # codes 55 and 96
    assert week["precipitation_probability_max"][6] is None
    # One table: every generated description comes from the same function the live tools use.
    assert all(weather.describe(code) == text for code, text in weather.WMO.items())
    assert weather.describe(42) == "weather code 42"


# ----------------------------------------------------------------- the tools: failures as trained


@pytest.mark.parametrize("status,reason", [(500, "Internal server error"), (503, "Service temporarily unavailable"),
                                           (429, "Too many requests, rate limit exceeded")])
def test_http_failures_become_trained_error_results(open_meteo, status, reason):
    open_meteo.status = status
    assert tools.call("get_current_weather", {"latitude": 38.72, "longitude": -9.13}) == {"error": True, "reason": reason}
    assert reason in error_kinds.TOOL_FAILURES  # the wording the error conversations were trained on


def test_open_meteo_rejection_passes_its_reason(open_meteo):
    open_meteo.status = 400
    got = tools.call("get_forecast", {"latitude": 38.72, "longitude": -9.13, "days": 3})
    assert got == {"error": True, "reason": "Forecast days is invalid. Allowed range 0 to 16."}


def test_timeout_and_unreachable_become_trained_error_results(open_meteo):
    open_meteo.sleep = 1.5
    started = time.monotonic()
    got = tools.call("geocode_location", {"city": "Lisbon"}, get_json=lambda url: tools.http_get_json(url, timeout=0.3))
    assert got == {"error": True, "reason": "Request timed out"} and time.monotonic() - started < 1.4
    open_meteo.sleep = 0
    open_meteo.close()  # nothing listens on the port any more
    got = tools.call("geocode_location", {"city": "Lisbon"})
    assert got == {"error": True, "reason": "Upstream data source unavailable"}
    assert {tools.TIMED_OUT, tools.UPSTREAM, tools.RESET, tools.SERVER_ERROR, tools.UNAVAILABLE, tools.RATE_LIMITED} <= set(error_kinds.TOOL_FAILURES)


def test_days_beyond_14_and_bad_arguments_are_refused_without_a_request(open_meteo):
    assert tools.call("get_forecast", {"latitude": 38.72, "longitude": -9.13, "days": 20}) == {
        "error": True, "reason": "days=20: the forecast covers 1 to 14 days"}
    assert tools.call("get_forecast", {"latitude": 38.72, "longitude": -9.13, "days": 2.5})["error"]
    assert "missing days" in tools.call("get_forecast", {"latitude": 38.72, "longitude": -9.13})["reason"]
    assert "unknown tool" in tools.call("get_weather", {"city": "Lisbon"})["reason"]
    assert "outside -90 to 90" in tools.call("get_current_weather", {"latitude": 98.0, "longitude": 0})["reason"]
    assert "unknown argument(s) units" in tools.call("get_current_weather", {"latitude": 1, "longitude": 2, "units": "F"})["reason"]
    assert open_meteo.requests == []
    # OpenAI sends arguments as a JSON string: accepted like an object.
    assert tools.call("get_forecast", '{"latitude": 38.72, "longitude": -9.13, "days": 1}')["daily"]["time"] == ["2026-12-01"]


# ----------------------------------------------------------------- the loop with a scripted model

GEOCODE_TEXT = ' [TOOL_CALLS] [{"name": "geocode_location", "arguments": {"city": "Lisbon"}, "id": "aaaaaaaaa"}]'
FORECAST_TEXT = ' [TOOL_CALLS] [{"name": "get_forecast", "arguments": {"latitude": 38.72, "longitude": -9.13, "days": 2}, "id": "bbbbbbbbb"}]'
ANSWER = "Yes: rain showers in Lisbon tomorrow, 90% likely, 7.9 mm."


def _scripted(*texts):
    """A fake model: its replies, in order, parsed the way the local engine parses real output."""
    seen = []

    def reply(messages):
        seen.append([dict(m) for m in messages])
        return chat.assistant_message(texts[len(seen) - 1])

    return reply, seen


def test_tool_loop_call_result_answer(open_meteo):
    reply, seen = _scripted(GEOCODE_TEXT, FORECAST_TEXT, " " + ANSWER)
    messages = chat.conversation("twain") + [{"role": "user", "content": QUESTION}]
    lines = []
    assert chat.answer(reply, messages, show=lines.append) == ANSWER
    roles = [m["role"] for m in messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert messages[0]["content"] == system_prompt("twain", dt.date.today())
    first, second = messages[2]["tool_calls"][0], messages[4]["tool_calls"][0]
    assert first["function"] == {"name": "geocode_location", "arguments": {"city": "Lisbon"}} and first["type"] == "function"
    assert len(first["id"]) == 9 and first["id"].isalnum()
    assert messages[3]["tool_call_id"] == first["id"] and messages[5]["tool_call_id"] == second["id"]
    assert json.loads(messages[3]["content"]) == {"results": [LISBON]}
    assert json.loads(messages[5]["content"])["daily"]["weather_description"] == ["light rain", "rain showers"]
    # Tool content is written as the generator wrote it: compact JSON, unicode kept.
    assert messages[5]["content"] == json.dumps(json.loads(messages[5]["content"]), ensure_ascii=False, separators=(",", ":"))
    assert "°C" in messages[5]["content"]
    assert len(seen) == 3 and seen[1][-1]["role"] == "tool"  # the model saw the result before its next step
    assert lines[0].startswith('tool geocode_location {"city": "Lisbon"} -> Lisbon, Portugal (38.72, -9.13)')
    assert [p for p, _ in open_meteo.requests] == ["/v1/search", "/v1/forecast"]


def test_prompt_after_a_tool_round_renders_like_training(open_meteo):
    from tasks.train import template

    reply, _ = _scripted(GEOCODE_TEXT, " " + ANSWER)
    messages = chat.conversation("neutral") + [{"role": "user", "content": QUESTION}]
    chat.answer(reply, messages, show=lambda line: None)
    tok = template.load_tokenizer()
    text = tok.apply_chat_template(messages[:-1], tools=template.TOOLS, tokenize=False)
    call_id = messages[2]["tool_calls"][0]["id"]
    assert f' [TOOL_CALLS] [{{"name": "geocode_location", "arguments": {{"city": "Lisbon"}}, "id": "{call_id}"}}]</s>' in text
    assert text.endswith(f'[TOOL_RESULTS] {{"call_id": "{call_id}", "content": {messages[3]["content"]}}} [/TOOL_RESULTS]')


def test_tool_rounds_are_bounded(open_meteo):
    reply, seen = _scripted(*[GEOCODE_TEXT] * 10)
    messages = chat.conversation("neutral") + [{"role": "user", "content": QUESTION}]
    with pytest.raises(chat.ToolLoopExhausted, match="no answer after 2 tool rounds"):
        chat.answer(reply, messages, max_rounds=2, show=lambda line: None)
    assert len(seen) == 3


def test_a_broken_call_is_refused_not_run(open_meteo):
    reply, _ = _scripted(' [TOOL_CALLS] [{"name": "geocode_location", "arguments": {"city": ')
    messages = chat.conversation("neutral") + [{"role": "user", "content": QUESTION}]
    with pytest.raises(chat.MalformedCall, match="does not parse"):  # one line, exit 1 in make ask (issue 20)
        chat.answer(reply, messages, show=lambda line: None)
    assert open_meteo.requests == []


def test_an_empty_answer_is_an_error_in_ask_and_a_warning_in_chat(open_meteo, capsys):
    """An end-of-turn token where the answer belongs: `make ask` must not print a blank line and exit 0."""
    reply, _ = _scripted(GEOCODE_TEXT, "")
    with pytest.raises(chat.NoAnswer, match=r"ended its turn without an answer after 1 tool result\(s\)"):
        chat.ask(reply, "neutral", QUESTION, chat.MAX_TOOL_ROUNDS)
    reply, seen = _scripted(" ", " Hello.")
    lines = iter(["Hi", "Hi again", EOFError])

    def read(prompt):
        line = next(lines)
        if line is EOFError:
            raise EOFError
        return line

    chat.interactive(reply, "neutral", chat.MAX_TOOL_ROUNDS, read=read)
    captured = capsys.readouterr()
    assert "ended its turn without an answer; ask again" in captured.out  # ui.warning writes to stdout
    assert "weatherman> Hello." in captured.out and "weatherman>  \n" not in captured.out
    assert [m["role"] for m in seen[1]] == ["system", "user"]  # the unanswered question was dropped


# ----------------------------------------------------------------- the local engine on the tiny adapter


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory) -> Path:
    return make_adapter(tmp_path_factory.mktemp("chat") / "adapter")


def test_local_engine_runs_the_loop_on_the_real_adapter(open_meteo, tiny_adapter, capsys):
    """The adapter loads as `make eval` loads it; a scripted generator stands in for the tiny random model's
    words (it never calls a tool) and checks that each prompt is the real tokenizer's rendering."""
    from tasks.config import load_config

    prompts = []

    def generate(model, tok, messages, tools_, max_new_tokens, max_time, device):
        prompts.append(tok.apply_chat_template(messages, tools=tools_, tokenize=False))
        assert device == "cpu" and model.peft_config["default"].r == 8
        return [GEOCODE_TEXT, FORECAST_TEXT, " " + ANSWER][len(prompts) - 1]

    cfg = load_config(tiny_adapter / "training_config.resolved.yaml")
    engine = chat.LocalEngine(cfg, tiny_adapter, generate=generate)
    assert chat.ask(engine, "franklin", QUESTION, chat.MAX_TOOL_ROUNDS) == ANSWER
    out = capsys.readouterr().out
    assert out.rstrip("\n").splitlines()[-1] == ANSWER
    assert "[CHAT] tool get_forecast" in out and "2 day(s) from 2026-12-01: light rain, rain showers" in out
    assert system_prompt("franklin") in prompts[0] and "[AVAILABLE_TOOLS]" in prompts[0]
    assert prompts[2].count("[TOOL_RESULTS]") == 2 and '"weather_description":["light rain","rain showers"]' in prompts[2]


def _env(server_url: str, **extra) -> dict:
    return {**os.environ, "NO_COLOR": "1", "OPEN_METEO_GEOCODING_URL": server_url + "/v1/search",
            "OPEN_METEO_FORECAST_URL": server_url + "/v1/forecast", **extra}


def test_make_ask_with_the_tiny_adapter_prints_the_models_answer(open_meteo, tiny_adapter):
    """`make ask` end to end with the real tiny adapter: loaded, asked, answered; the printed answer is
    exactly the model's greedy continuation (computed here in-process the same way)."""
    from tasks.config import load_config

    proc = subprocess.run(["make", "--no-print-directory", "ask", f"ADAPTER={tiny_adapter}", "PERSONA=onion", f"Q={QUESTION}",
                           f"PY={sys.executable}"], cwd=ROOT, capture_output=True, text=True, env=_env(open_meteo.url),
                          stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"[CHAT] Loading {tiny_adapter}" in proc.stdout and "[CHAT] Device cpu/fp32" in proc.stdout
    assert f"Open-Meteo endpoints from the environment: {open_meteo.url}/v1/search" in proc.stdout

    engine = chat.LocalEngine(load_config(tiny_adapter / "training_config.resolved.yaml"), tiny_adapter)
    messages = chat.conversation("onion") + [{"role": "user", "content": QUESTION}]
    expected = chat.answer(engine, messages, show=lambda line: None)
    assert expected.strip() and proc.stdout.endswith(expected.replace("\r\n", "\n").replace("\r", "\n") + "\n")  # text mode reads \r as \n
    assert len(open_meteo.requests) == 2 * sum(1 for m in messages if m["role"] == "tool")  # every call ran twice, once per run


def test_make_ask_with_an_empty_question_says_how(tiny_adapter):
    proc = subprocess.run(["make", "--no-print-directory", "ask", f"ADAPTER={tiny_adapter}", f"PY={sys.executable}"],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}, stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode != 0 and 'make ask Q="Will it rain in Lisbon tomorrow?"' in proc.stderr


def test_chat_without_a_terminal_refuses_at_once():
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tasks.serve.chat", "--adapter", "adapters/none"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "NO_COLOR": "1"}, stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 1
    assert "make chat needs a terminal" in proc.stderr and "make ask Q=" in proc.stderr
    assert time.monotonic() - started < 60  # refused before any model loads


def test_interactive_chat_keeps_the_conversation_and_resets(open_meteo, capsys):
    reply, seen = _scripted(GEOCODE_TEXT, " " + ANSWER, " Tomorrow again.", " Hello.")
    lines = iter(["Will it rain in Lisbon tomorrow?", "", "And the day after?", "/reset", "Hi", EOFError])

    def read(prompt):
        line = next(lines)
        if line is EOFError:
            raise EOFError
        return line

    chat.interactive(reply, "neutral", chat.MAX_TOOL_ROUNDS, read=read)
    out = capsys.readouterr().out
    assert f"weatherman> {ANSWER}" in out and "weatherman> Tomorrow again." in out and "weatherman> Hello." in out
    assert [m["role"] for m in seen[2]] == ["system", "user", "assistant", "tool", "assistant", "user"]  # the second turn sees the first
    assert [m["role"] for m in seen[3]] == ["system", "user"]  # after /reset


# ----------------------------------------------------------------- the Ollama engine


def _ollama_handler(server):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.requests.append((self.path, body))
            if body["model"] == "silent":  # what Ollama returns after dropping a call it could not parse
                return self._send(200, {"model": "silent", "message": {"role": "assistant", "content": ""}, "done": True})
            if body["model"] != "weatherman":
                return self._send(404, {"error": f"model '{body['model']}' not found"})
            n = len(server.requests)
            if n == 1:
                message = {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_k3v9x2qa", "function": {"index": 0, "name": "geocode_location", "arguments": {"city": "Lisbon"}}}]}
            elif n == 2:
                message = {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_p0w7m1zd", "function": {"index": 0, "name": "get_forecast",
                                                         "arguments": {"latitude": 38.72, "longitude": -9.13, "days": 2}}}]}
            else:
                message = {"role": "assistant", "content": ANSWER}
            self._send(200, {"model": "weatherman", "created_at": "2026-12-01T14:50:00Z", "message": message,
                             "done": True, "done_reason": "stop"})

        def _send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def ollama(monkeypatch):
    server = Server(_ollama_handler)
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    yield server
    server.close()


def test_ollama_engine_runs_the_loop(open_meteo, ollama, capsys):
    from tasks.train.template import TOOLS

    assert chat.main(["--engine", "ollama", "--persona", "twain", "--ask", QUESTION]) == 0
    out = capsys.readouterr().out
    assert out.rstrip("\n").splitlines()[-1] == ANSWER
    assert len(ollama.requests) == 3
    for path, body in ollama.requests:
        assert path == "/api/chat" and body["tools"] == TOOLS and body["stream"] is False and body["model"] == "weatherman"
    last = ollama.requests[2][1]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert last[0]["content"] == system_prompt("twain", dt.date.today())
    # Ollama's rewritten ids (call_...) are replaced by the trained shape, which the calls and results then share.
    [geocode] = last[2]["tool_calls"]
    assert geocode["function"] == {"name": "geocode_location", "arguments": {"city": "Lisbon"}}
    assert re.fullmatch(r"[A-Za-z0-9]{9}", geocode["id"]) and geocode["id"] != "call_k3v9x2qa"
    assert last[3]["tool_call_id"] == geocode["id"] and json.loads(last[3]["content"]) == {"results": [LISBON]}
    assert last[5]["tool_call_id"] == last[4]["tool_calls"][0]["id"] != geocode["id"]
    assert json.loads(last[5]["content"])["daily"]["precipitation_probability_max"] == [84, 90]


def test_ollama_missing_model_and_no_server_fail_clearly(open_meteo, ollama, capsys, monkeypatch):
    assert chat.main(["--engine", "ollama", "--model", "nope", "--ask", QUESTION]) == 1
    err = capsys.readouterr().err
    assert "HTTP 404 for model 'nope' (model 'nope' not found)" in err and "ollama create nope -f Modelfile" in err
    ollama.close()
    assert chat.main(["--engine", "ollama", "--ask", QUESTION]) == 1
    assert "not reachable" in capsys.readouterr().err


def test_ollama_host_without_scheme_is_accepted(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11500")
    assert chat.OllamaEngine("weatherman").host == "http://127.0.0.1:11500"


def test_numbers_are_written_as_the_generator_wrote_them(open_meteo):
    """Floats stay floats (15.0, never 15) and integers stay integers, whatever the API or the model wrote."""
    got = tools.call("get_current_weather", {"latitude": 38, "longitude": -9.13})
    assert got["latitude"] == 38.0 and isinstance(got["latitude"], float)
    text = json.dumps(got, ensure_ascii=False, separators=(",", ":"))
    assert text.startswith('{"latitude":38.0,"longitude":-9.13,') and '"relative_humidity_2m":81,' in text


def test_ollama_empty_reply_is_explained(open_meteo, ollama, capsys):
    assert chat.main(["--engine", "ollama", "--model", "silent", "--ask", QUESTION]) == 1  # no blank "answer" for scripts
    captured = capsys.readouterr()
    assert "Ollama returned neither text nor a tool call" in captured.out
    assert "the model ended its turn without an answer" in captured.err


def test_a_shared_name_returns_the_sizeable_places_with_their_regions_as_trained():
    # Open-Meteo's answer for "Portland" in its documented format (populations as GeoNames lists them):
    # training gave several results only for a name that sizeable cities share, each with its admin1.
    answer = {"results": [
        {"name": "Portland", "latitude": 45.52345, "longitude": -122.67621, "elevation": 15.0, "country_code": "US",
         "country": "United States", "admin1": "Oregon", "population": 652503},
        {"name": "Portland", "latitude": 43.66147, "longitude": -70.25533, "elevation": 9.0, "country_code": "US",
         "country": "United States", "admin1": "Maine", "population": 68408},
        {"name": "Portland", "latitude": 27.87725, "longitude": -97.32388, "elevation": 7.0, "country_code": "US",
         "country": "United States", "admin1": "Texas", "population": 15099},
        {"name": "Portland", "latitude": -38.34174, "longitude": 141.60301, "country_code": "AU", "country": "Australia",
         "admin1": "Victoria"},
    ]}
    got = tools.geocode_location({"city": "Portland"}, lambda url: answer)
    assert [(r["admin1"], r["latitude"]) for r in got["results"]] == [("Oregon", 45.52), ("Maine", 43.66)]
    trained = weather.geocode_result(gazetteer.geocode_all("Portland"))
    assert len(trained["results"]) > 1 and list(got["results"][0]) == list(trained["results"][0])  # fields and order
    only = tools.geocode_location({"city": "Portland", "country": "Australia"}, lambda url: answer)
    assert only == {"results": [{"name": "Portland", "latitude": -38.34, "longitude": 141.6, "country": "Australia",
                                 "country_code": "AU"}]}  # one place: no region, as trained


def test_text_before_a_call_stays_with_the_call():
    message = chat.assistant_message(' Let me check that. [TOOL_CALLS] [{"name": "geocode_location", "arguments": {"city": "Lisbon"}}]')
    assert message["content"] == "Let me check that."
    assert [c["function"] for c in message["tool_calls"]] == [{"name": "geocode_location", "arguments": {"city": "Lisbon"}}]
    assert chat.assistant_message(GEOCODE_TEXT)["content"] is None  # a bare call, as the generated data has it


@pytest.mark.parametrize("value,url", [
    ("", "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://127.0.0.1:11434"),  # a server bound to all interfaces is reached at loopback
    ("myhost", "http://myhost:11434"),
    ("myhost:1234", "http://myhost:1234"),
    ("http://myhost", "http://myhost:80"),  # an explicit scheme brings its own default port, as in ollama
    ("https://h", "https://h:443"),
    ("https://h:8443/", "https://h:8443"),
    (":11500", "http://127.0.0.1:11500"),
    ("[::1]:11434", "http://[::1]:11434"),
    ("::", "http://[::1]:11434"),
    ("myhost:port", "http://myhost:11434"),
    ("http://proxy.example/ollama/", "http://proxy.example:80/ollama"),
])
def test_ollama_host_is_read_as_ollama_reads_it(value, url):
    assert chat.ollama_url(value) == url


def test_chat_prompt_is_the_training_prompt_with_todays_date():
    day = dt.date(2026, 12, 3)
    [system] = chat.conversation("onion", day)
    assert system["content"] == system_prompt("onion", day)
    assert system["content"].endswith("Today is Thursday, 3 December 2026.")
    prompts = {m["content"] for conv in generate.generate(40) for m in conv["messages"][:1]}
    dated = {p for p in prompts if "Today is" in p}
    assert dated and all(p.rsplit("\n", 1)[0] in {system_prompt(n) for n in chat.PERSONAS} for p in dated)
