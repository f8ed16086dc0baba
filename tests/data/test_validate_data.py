"""The data validator: each kind of bad line, the message format, the cap, the CLI, speed,
and agreement with the JSON Schema in configs/data.schema.json."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from tasks.data.generate import dumps_line, generate
from tasks.data.validate import check_conversation, validate_file

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "configs" / "data.schema.json").read_text(encoding="utf-8"))


def good() -> dict:
    """A valid geocode-then-forecast line in the OpenAI format (arguments as strings)."""
    return {
        "messages": [
            {"role": "system", "content": "You are a clear, accurate weather assistant."},
            {"role": "user", "content": "Forecast for Paris for the next 3 days?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "abcDEF123", "type": "function", "function": {
                "name": "geocode_location", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "abcDEF123", "content": "{\"results\":[{\"name\":\"Paris\",\"latitude\":48.86,\"longitude\":2.35}]}"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "xyzXYZ789", "type": "function", "function": {
                "name": "get_forecast", "arguments": "{\"latitude\": 48.86, \"longitude\": 2.35, \"days\": 3}"}}]},
            {"role": "tool", "tool_call_id": "xyzXYZ789", "content": "{\"daily\":{\"temperature_2m_max\":[12.1,13.0,9.8]}}"},
            {"role": "assistant", "content": "Highs of 12.1, 13.0 and 9.8°C."},
        ],
        "tags": {"persona": "neutral", "scenario": "geocode_then_weather"},
    }


def _set(path, value):
    def mutate(line):
        node = line
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return line
    return mutate


def _del(path):
    def mutate(line):
        node = line
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        return line
    return mutate


def _args(value):
    return _set(["messages", 4, "tool_calls", 0, "function", "arguments"], value)


def _insert(index, message):
    def mutate(line):
        line["messages"].insert(index, message)
        return line
    return mutate


def _drop_messages(*indices):
    def mutate(line):
        line["messages"] = [m for i, m in enumerate(line["messages"]) if i not in indices]
        return line
    return mutate


# (kind, mutation, expected json path, expected words in the problem, also invalid under the JSON Schema)
BAD = [
    ("unknown top-level key", _set(["extra"], 1), "extra", "unknown key", True),
    ("messages missing", _del(["messages"]), "messages", "missing", True),
    ("messages empty", _set(["messages"], []), "messages", "missing or not a non-empty array", True),
    ("tags missing", _del(["tags"]), "tags", "persona and scenario", True),
    ("unknown persona", _set(["tags", "persona"], "shakespeare"), "tags.persona", "expected one of", True),
    ("scenario missing", _del(["tags", "scenario"]), "tags.scenario", "non-empty string", True),
    ("unknown role", _set(["messages", 1, "role"], "human"), "messages[1].role", "expected one of", True),
    ("content parts", _set(["messages", 1, "content"], [{"type": "text", "text": "hi"}]), "messages[1].content", "content parts", True),
    ("empty user message", _set(["messages", 1, "content"], "  "), "messages[1].content", "empty user message", True),
    ("system not first", _insert(2, {"role": "system", "content": "late"}), "messages[2].role", "must come first", False),
    ("user after user", _insert(2, {"role": "user", "content": "again"}), "messages[2].role", "user message after user", False),
    ("assistant after assistant", _insert(7, {"role": "assistant", "content": "more"}), "messages[7].role", "assistant message after assistant", False),
    ("tool result answers no call", _set(["messages", 5, "tool_call_id"], "nosuchid1"), "messages[5].tool_call_id", "answers no pending tool call", False),
    ("tool result missing", _drop_messages(5, 6), "messages[4]", "have no result", False),
    ("user before the tool result", _insert(3, {"role": "user", "content": "hello?"}), "messages[3].role", "have no result yet", False),
    ("arguments not JSON", _args("{\"latitude\": 48.86,"), "messages[4].tool_calls[0].function.arguments", "not valid JSON", False),
    ("arguments not an object", _args("[48.86, 2.35]"), "messages[4].tool_calls[0].function.arguments", "expected a JSON object", False),
    ("unknown function", _set(["messages", 4, "tool_calls", 0, "function", "name"], "get_weather"), "messages[4].tool_calls[0].function.name", "unknown function 'get_weather'", False),
    ("missing required argument", _args("{\"latitude\": 48.86, \"longitude\": 2.35}"), "messages[4].tool_calls[0].function.arguments", "missing required argument 'days'", False),
    ("days beyond 14", _args("{\"latitude\": 48.86, \"longitude\": 2.35, \"days\": 21}"), "messages[4].tool_calls[0].function.arguments.days", "above the maximum 14", False),
    ("latitude as a string", _args("{\"latitude\": \"48.86\", \"longitude\": 2.35, \"days\": 3}"), "messages[4].tool_calls[0].function.arguments.latitude", "expected number", False),
    ("days as a boolean", _args("{\"latitude\": 48.86, \"longitude\": 2.35, \"days\": true}"), "messages[4].tool_calls[0].function.arguments.days", "expected integer", False),
    ("unknown argument", _args("{\"latitude\": 48.86, \"longitude\": 2.35, \"days\": 3, \"units\": \"F\"}"), "messages[4].tool_calls[0].function.arguments.units", "unknown argument", False),
    ("duplicate call id", _set(["messages", 4, "tool_calls", 0, "id"], "abcDEF123"), "messages[4].tool_calls[0].id", "duplicate tool call id", False),
    ("tool result not JSON", _set(["messages", 5, "content"], "sunny, 12 degrees"), "messages[5].content", "not a JSON text", False),
    ("ends with a user turn", _insert(7, {"role": "user", "content": "thanks"}), "messages[7]", "must end with an assistant answer", False),
    ("assistant with nothing", _set(["messages", 6, "content"], ""), "messages[6].content", "needs text or tool_calls", True),
    ("non-text beside tool calls", _set(["messages", 2, "content"], 7), "messages[2].content", "expected a string or null", True),
    ("tool name mismatch", _set(["messages", 3, "name"], "get_forecast"), "messages[3].name", "was to 'geocode_location'", False),
    ("unknown message key", _set(["messages", 1, "weight"], 0), "messages[1].weight", "unknown key for a user message", True),
    ("bad call type", _set(["messages", 2, "tool_calls", 0, "type"], "code"), "messages[2].tool_calls[0].type", "expected 'function'", True),
]


@pytest.mark.parametrize("kind,mutate,path,words,schema_too", BAD, ids=[b[0] for b in BAD])
def test_each_kind_of_bad_line_is_reported_with_its_path(tmp_path, kind, mutate, path, words, schema_too):
    line = mutate(copy.deepcopy(good()))
    problems = check_conversation(line)
    assert any(p == path and words in msg for p, msg in problems), f"{kind}: got {problems}"
    f = tmp_path / "bad.jsonl"
    f.write_text(dumps_line(good()) + json.dumps(line) + "\n", encoding="utf-8")
    messages = validate_file(f)
    assert messages and all(m.startswith(f"{f}:2: ") for m in messages), messages
    assert any(m.startswith(f"{f}:2: {path}: ") and words in m for m in messages)
    if schema_too:
        assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(line), f"{kind}: the JSON Schema should reject it too"


def test_good_line_in_both_argument_formats_is_valid():
    line = good()
    assert check_conversation(line) == []
    for m in line["messages"]:
        for tc in m.get("tool_calls") or []:
            tc["function"]["arguments"] = json.loads(tc["function"]["arguments"])
    assert check_conversation(line) == []
    assert jsonschema.Draft202012Validator(SCHEMA).is_valid(line)


def test_text_beside_tool_calls_is_valid():
    """OpenAI-format generators write "Let me check that for you." beside the calls; the template renders it."""
    line = good()
    line["messages"][2]["content"] = "Let me check that for you."
    line["messages"][4]["content"] = "Now the forecast."
    assert check_conversation(line) == []
    assert jsonschema.Draft202012Validator(SCHEMA).is_valid(line)


def test_a_line_with_its_own_tools_is_checked_against_them():
    line = good()
    line["tools"] = [{"type": "function", "function": {"name": "geocode_location", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    problems = check_conversation(line)
    assert problems == [("messages[4].tool_calls[0].function.name",
                         "unknown function 'get_forecast' (expected one of ['geocode_location'])")]


def test_syntax_errors_empty_lines_and_non_objects(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text(dumps_line(good()) + "{\"messages\": [\n" + "\n" + "[1, 2]\n", encoding="utf-8")
    messages = validate_file(f)
    assert messages == [
        f"{f}:2: $: invalid JSON: Expecting value at column 15",
        f"{f}:3: $: empty line (JSONL needs one object per line)",
        f"{f}:4: $: expected a JSON object (got array)",
    ]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert validate_file(empty) == [f"{empty}:0: $: empty file"]


def test_cap_reports_the_count_of_the_rest(tmp_path):
    bad = good()
    bad["tags"]["persona"] = "nobody"
    f = tmp_path / "many.jsonl"
    f.write_text(json.dumps(bad) + "\n" * 1 + (json.dumps(bad) + "\n") * 119, encoding="utf-8")
    messages = validate_file(f, max_errors=10)
    assert len(messages) == 11
    assert messages[9].startswith(f"{f}:10: tags.persona: ")
    assert messages[10] == f"{f}: 110 more problems not shown (120 in all)"


def test_cli_exit_codes_and_messages(tmp_path):
    ok = tmp_path / "ok.jsonl"
    ok.write_text(dumps_line(good()) * 3, encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    line = good()
    line["messages"][4]["tool_calls"][0]["function"]["arguments"] = "{\"latitude\": 48.86, \"longitude\": 2.35, \"days\": 30}"
    bad.write_text(dumps_line(good()) + json.dumps(line) + "\n", encoding="utf-8")
    run = lambda *a: subprocess.run([sys.executable, "-m", "tasks.data.validate", *a], cwd=ROOT,  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    r = run("--data", str(ok))
    assert r.returncode == 0, r.stderr
    assert f"{ok}: 3 lines valid" in r.stdout
    r = run("--data", str(bad))
    assert r.returncode == 1
    assert f"{bad}:2: messages[4].tool_calls[0].function.arguments.days: 30 is above the maximum 14" in r.stdout
    assert "breaks the data contract" in r.stderr
    r = run("--data", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 1 and "no such data file" in r.stderr and "make data" in r.stderr


@pytest.fixture(scope="module")
def generated_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "all.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(dumps_line(c) for c in generate(16000))
    return path


def test_all_16000_generated_lines_are_valid_in_under_5_seconds(generated_file):
    t0 = time.perf_counter()
    problems = validate_file(generated_file)
    elapsed = time.perf_counter() - t0
    assert problems == []
    assert elapsed < 5.0, f"validator took {elapsed:.2f} s for 16,000 lines"


def test_generated_lines_satisfy_the_json_schema(generated_file):
    """The documented schema and the validator agree on the real data (every 40th line: jsonschema is slow)."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    with open(generated_file, encoding="utf-8") as fh:
        for i, raw in enumerate(fh):
            if i % 40 == 0:
                errors = list(validator.iter_errors(json.loads(raw)))
                assert errors == [], f"line {i + 1}: {errors[0].message}"


def test_error_scenarios_survive_the_validator(generated_file):
    """An earlier attempt's validator filtered out its own error cases: these must all pass."""
    seen = set()
    with open(generated_file, encoding="utf-8") as fh:
        for raw in fh:
            obj = json.loads(raw)
            if obj["tags"]["scenario"].startswith("error_"):
                assert check_conversation(obj) == []
                seen.add(obj["tags"]["scenario"])
    assert seen == {"error_unknown_place", "error_tool", "error_too_many_days"}
