"""The OpenAI-compatible engine's wire format and its failures, against a scripted /v1/chat/completions on 127.0.0.1
(the whole loop through a real llama.cpp server is tests/serve/test_openai_server.py): each failure is one line
and exit 1 in `make ask`, one line and the session kept in `make chat`, never a traceback, never the key."""

import json
from http.server import BaseHTTPRequestHandler

import pytest

from tasks.serve import chat, openai_engine, tools
from tests.helpers_serve import Server

QUESTION = "Will it rain in Lisbon tomorrow?"
ANSWER = "Yes: rain showers in Lisbon tomorrow, 90% likely, 7.9 mm."
KEY = "sk-test-0123456789abcdef"
GEOCODE = {"id": "call_7f3a", "type": "function", "function": {"name": "geocode_location", "arguments": '{"city": "Lisbon"}'}}
FORECAST = {"id": "call_9b2c", "type": "function",
            "function": {"name": "get_forecast", "arguments": '{"latitude": 38.72, "longitude": -9.13, "days": 2}'}}


def _handler(server):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.requests.append((self.path, body, self.headers.get("Authorization")))
            step = server.script[min(len(server.requests), len(server.script)) - 1]
            if isinstance(step, tuple):  # (status, raw body)
                return self._send(step[0], step[1])
            return self._send(200, json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                                               "choices": [{"index": 0, "message": {"role": "assistant", **step},
                                                            "finish_reason": "tool_calls" if step.get("tool_calls") else "stop"}]}))

        def _send(self, status, raw):
            data = raw.encode() if isinstance(raw, str) else raw
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def api():
    server = Server(_handler)
    server.script = []
    yield server
    server.close()


def _ask(api, *extra):
    return chat.main(["--engine", "openai", "--base-url", api.url, "--model", "weatherman", "--persona", "twain", *extra, "--ask", QUESTION])


def test_the_loop_through_chat_completions(open_meteo, api, capsys, monkeypatch):
    from tasks.train.template import TOOLS

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    api.script = [{"content": None, "tool_calls": [GEOCODE]}, {"content": "", "tool_calls": [FORECAST]}, {"content": ANSWER}]
    assert _ask(api) == 0
    captured = capsys.readouterr()
    assert captured.out.rstrip("\n").splitlines()[-1] == ANSWER
    assert KEY not in captured.out + captured.err and "key from OPENAI_API_KEY" in captured.out
    assert [p for p, _, _ in api.requests] == ["/v1/chat/completions"] * 3  # /v1 added to the bare host:port
    assert all(auth == f"Bearer {KEY}" for _, _, auth in api.requests)
    body = api.requests[2][1]
    assert body["tools"] == TOOLS and body["temperature"] == 0 and body["stream"] is False and body["model"] == "weatherman"
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    # OpenAI's wire format: arguments as a JSON string, ids in the trained shape (nine letters and digits), results by id.
    call = msgs[2]["tool_calls"][0]
    assert call["type"] == "function" and json.loads(call["function"]["arguments"]) == {"city": "Lisbon"}
    assert len(call["id"]) == 9 and call["id"].isalnum() and msgs[3]["tool_call_id"] == call["id"]
    assert json.loads(msgs[3]["content"])["results"][0]["name"] == "Lisbon"
    assert json.loads(msgs[5]["content"])["daily"]["precipitation_probability_max"] == [84, 90]


def test_a_call_left_in_the_text_is_parsed_as_trained(open_meteo, api, capsys):
    # llama-cpp-python with the adapter's own template returns the trained text form of a call as content.
    api.script = [{"content": ' [TOOL_CALLS] [{"name": "geocode_location", "arguments": {"city": "Lisbon"}, "id": "x1x1x1x1x"}]'},
                  {"content": " " + ANSWER}]
    assert _ask(api) == 0
    assert capsys.readouterr().out.rstrip("\n").splitlines()[-1] == ANSWER
    assert [p for p, _ in open_meteo.requests] == ["/v1/search"]


def test_base_url_forms():
    assert openai_engine.base_url("127.0.0.1:8080") == "http://127.0.0.1:8080/v1"
    assert openai_engine.base_url("http://localhost:1234/v1/") == "http://localhost:1234/v1"
    assert openai_engine.base_url("https://api.example.com/v1/chat/completions") == "https://api.example.com/v1"
    assert KEY not in repr(openai_engine.OpenAIEngine("x:1", api_key=KEY))


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_unreachable_server_is_one_line(api, capsys):
    api.close()  # nothing listens there any more
    assert _ask(api) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"OpenAI-compatible server at {api.url}/v1: not reachable" in line and "BASE_URL" in line


def test_refused_key_and_unknown_model_say_which(api, capsys):
    api.script = [(401, json.dumps({"error": {"message": "Invalid API key", "type": "invalid_request_error"}}))]
    assert _ask(api, "--api-key", KEY) == 1
    err = capsys.readouterr().err
    assert "HTTP 401 (Invalid API key)" in _one_error_line(err) and "OPENAI_API_KEY" in err and KEY not in err
    api.script, api.requests = [(404, json.dumps({"error": {"message": "The model `nope` does not exist."}}))], []
    assert _ask(api) == 1
    assert "HTTP 404" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("reply,words", [
    ({"content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "geocode_location", "arguments": '{"city": "Lis'}}]},
     "wrote a tool call that does not parse"),
    ({"content": ' [TOOL_CALLS] [{"name": "geocode_location", "arguments": {"city": '}, "wrote a tool call that does not parse"),
    ((200, "<html>not an API</html>"), "the reply is not a chat completion"),
])
def test_malformed_replies_are_one_line_and_nothing_runs(open_meteo, api, capsys, reply, words):
    api.script = [reply]
    assert _ask(api) == 1
    assert words in _one_error_line(capsys.readouterr().err)
    assert open_meteo.requests == []  # no tool ran on a call that does not parse


def test_a_runaway_loop_stops_at_the_round_limit(open_meteo, api, capsys):
    api.script = [{"content": None, "tool_calls": [GEOCODE]}]  # the same call, forever
    assert _ask(api, "--max-tool-rounds", "3") == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "no answer after 3 tool rounds" in line and "geocode_location" in line
    assert len(api.requests) == 4 and len(open_meteo.requests) == 3


def test_a_tool_timeout_prints_the_explanation_and_exits_1(open_meteo, api, capsys, monkeypatch):
    real_call = tools.call
    monkeypatch.setattr(tools, "call", lambda name, args: real_call(name, args, get_json=lambda url: tools.http_get_json(url, timeout=0.3)))
    open_meteo.sleep = 1.0
    explanation = "The weather service did not answer in time; try me again in a minute."
    api.script = [{"content": None, "tool_calls": [GEOCODE]}, {"content": explanation}]
    assert _ask(api) == 1
    captured = capsys.readouterr()
    assert captured.out.rstrip("\n").splitlines()[-1] == explanation  # the model saw the trained error and explained
    assert json.loads(api.requests[1][1]["messages"][-1]["content"]) == {"error": True, "reason": "Request timed out"}
    line = _one_error_line(captured.err)
    assert "no weather data: geocode_location: Request timed out" in line


def test_chat_keeps_its_session_after_each_failure(open_meteo, api, capsys):
    api.script = [{"content": ' [TOOL_CALLS] [{"name": "geocode_location", "arguments": {"city": '}, {"content": "Hello there."}]
    engine = openai_engine.OpenAIEngine(api.url, "weatherman")
    lines = iter(["Will it rain in Lisbon?", "Hi", EOFError])

    def read(prompt):
        line = next(lines)
        if line is EOFError:
            raise EOFError
        return line

    chat.interactive(engine, "neutral", chat.MAX_TOOL_ROUNDS, read=read)
    captured = capsys.readouterr()
    assert "does not parse" in captured.out + captured.err and "weatherman> Hello there." in captured.out
    assert "Traceback" not in captured.out + captured.err
    # The broken turn was dropped: the second question follows the system prompt directly.
    assert [m["role"] for m in api.requests[1][1]["messages"]] == ["system", "user"]
