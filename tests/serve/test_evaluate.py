"""make eval: parsing and scoring by hand, the final-answer loss against transformers' own loss,
the whole run on the tiny model (bounded, never hangs), and the command's last JSON line."""

import json
import os
import subprocess
import sys
import time

import pytest

from tasks.serve import evaluate as ev
from tasks.config import load_config
from tests.helpers_after_training import CPU_CONFIG, ROOT, conversations, make_adapter, write_jsonl


def test_parse_output():
    ok = ev.parse_output(' [TOOL_CALLS] [{"name": "get_forecast", "arguments": {"latitude": 1.5, "longitude": 2, "days": 3}, "id": "x"}]')
    assert ok == {"called": True, "valid": True, "calls": [{"name": "get_forecast", "arguments": {"latitude": 1.5, "longitude": 2, "days": 3}}],
                  "text": ""}
    assert ev.parse_output(" It is sunny.") == {"called": False, "valid": False, "calls": [], "text": "It is sunny."}
    assert ev.parse_output('[TOOL_CALLS] [{"name": "get_forecast", "arguments": {"latitude": 1') == {"called": True, "valid": False, "calls": [],
                                                                                                  "text": ""}
    # Text before the call, as the template trains it for bring-your-own OpenAI data (and as Ollama parses it).
    spoken = ev.parse_output(' Let me check. [TOOL_CALLS] [{"name": "geocode_location", "arguments": {"city": "Oslo"}}]')
    assert spoken == {"called": True, "valid": True, "calls": [{"name": "geocode_location", "arguments": {"city": "Oslo"}}],
                      "text": "Let me check."}
    assert not ev.parse_output('[TOOL_CALLS] [{"name": "x", "arguments": "{}"}]')["valid"]  # double-encoded arguments
    assert not ev.parse_output('[TOOL_CALLS] [{"name": "x", "arguments": {}}] and more')["valid"]  # trailing text
    assert not ev.parse_output("[TOOL_CALLS] []")["valid"]


def test_arguments_match_tolerance_and_days():
    want = {"latitude": 47.61, "longitude": -122.33, "days": 5}
    assert ev.arguments_match({"latitude": 47.6, "longitude": -122.3, "days": 5}, want)
    assert not ev.arguments_match({"latitude": 47.0, "longitude": -122.33, "days": 5}, want)  # 0.61 degrees off
    assert not ev.arguments_match({"latitude": 47.61, "longitude": -122.33, "days": 6}, want)  # days must be equal
    assert not ev.arguments_match({"latitude": 47.61, "longitude": -122.33}, want)  # missing key
    assert ev.arguments_match({"city": " seattle", "country": "US"}, {"city": "Seattle", "country": "us"})
    assert ev.arguments_match({"latitude": 47.62}, {"latitude": 47.61}, tolerance=0.05)
    assert not ev.arguments_match({"latitude": 47.62}, {"latitude": 47.61}, tolerance=0.001)


def _case(expected, text):
    return {"expected": expected, "parsed": ev.parse_output(text)}


def test_score_by_hand():
    fc = [{"name": "get_forecast", "arguments": {"latitude": 1.0, "longitude": 2.0, "days": 3}}]
    call = ' [TOOL_CALLS] [{"name": "get_forecast", "arguments": {"latitude": 1.01, "longitude": 2.0, "days": 3}}]'
    cases = [
        _case(fc, call),  # right name, right arguments
        _case(fc, call.replace('"days": 3', '"days": 4')),  # right name, wrong days
        _case(fc, ' [TOOL_CALLS] [{"name": "get_current_weather", "arguments": {"latitude": 1.0, "longitude": 2.0}}]'),  # wrong name
        _case(fc, " [TOOL_CALLS] [{broken"),  # a call, invalid JSON
        _case(fc, " Sunny."),  # no call where one was expected
        _case([], " Sunny."),  # answer where an answer was expected
        _case([], call),  # a call where an answer was expected
    ]
    s = ev.score(cases)
    assert s["call_turns"] == 5 and s["answer_turns"] == 2 and s["calls_emitted"] == 5
    assert s["tool_call_rate"] == 0.8  # 4 of 5
    assert s["no_call_rate"] == 0.5  # 1 of 2
    assert s["json_valid_rate"] == 0.8  # 4 of the 5 emitted calls parse
    assert s["function_name_acc"] == 0.4  # 2 of 5
    assert s["arguments_acc"] == 0.2  # 1 of 5
    assert ev.score([_case([], " hi")])["tool_call_rate"] is None  # nothing to measure: null, not 0


def test_cases_of_reads_string_and_object_arguments():
    ex = conversations()[0]
    cases = ev.cases_of(ex)
    assert [i for i, _ in cases] == [2, 4, 6]
    assert cases[0][1] == [{"name": "geocode_location", "arguments": {"city": "Seattle", "country": "US"}}]
    assert cases[2][1] == []
    assert ev.cases_of(conversations()[1])[0][1][0]["arguments"] == {"latitude": 39.95, "longitude": -75.17, "days": 5}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    return make_adapter(tmp_path_factory.mktemp("adapter") / "a")


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    val = write_jsonl(tmp_path_factory.mktemp("data") / "val.jsonl", conversations())
    return load_config(CPU_CONFIG, [f"data.validation={val}"])


def test_final_answer_loss_equals_transformers_loss_on_the_answer_span(cfg, adapter):
    import torch

    from tasks.train import template

    model, tok, choice = ev.load(cfg, adapter)
    ex = conversations()[0]
    total, n = ev.final_answer_loss(model, tok, ex, 1024, "cpu")
    # Independently: label only the last answer's tokens (its text and </s>) and let transformers average.
    enc = template.encode(ex, tok)
    answer = tok(" " + ex["messages"][-1]["content"], add_special_tokens=False).input_ids + [tok.eos_token_id]
    labels = [-100] * (len(enc["input_ids"]) - len(answer)) + answer
    assert enc["input_ids"][-len(answer):] == answer
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([enc["input_ids"]]), labels=torch.tensor([labels])).loss.item()
    assert n == len(answer)
    assert total / n == pytest.approx(ref, rel=1e-5)
    with ev._adapter(model, "base"):
        base_total, _ = ev.final_answer_loss(model, tok, ex, 1024, "cpu")
    # the adapter changes the model: a small trained adapter moves this answer's summed loss by a few
    # hundredths of a nat, far above float32 noise (~1e-5 here); an inert one (B = 0) would give exactly 0
    assert abs(base_total - total) > 1e-3


def test_evaluate_scores_what_the_model_generates(cfg, adapter, monkeypatch):
    """The wiring from turns to metrics: an 'adapter' that emits each expected call, a 'base' that chats."""
    from tasks.train import template

    state = {"which": None}
    real_adapter = ev._adapter

    class Tracking(real_adapter):
        def __init__(self, model, which):
            super().__init__(model, which)
            state["which"] = which

    expected = {}
    for ex in conversations():
        for i, calls in ev.cases_of(ex):
            expected[json.dumps(template.prompt_before(ex, i)[0])] = calls

    def fake_generate(model, tok, messages, tools, max_new_tokens, max_time, device):
        calls = expected[json.dumps(messages)]
        if state["which"] == "base" or not calls:
            return " Lovely weather."
        return " [TOOL_CALLS] " + json.dumps([{**c, "id": "x"} for c in calls])

    monkeypatch.setattr(ev, "_adapter", Tracking)
    monkeypatch.setattr(ev, "generate", fake_generate)
    r = ev.evaluate(cfg, adapter, time_budget_s=60, progress=False)
    assert r["turns"] == r["turns_total"] == 16 and not r["partial"]
    assert r["adapter"]["tool_call_rate"] == r["adapter"]["arguments_acc"] == r["adapter"]["json_valid_rate"] == 1.0
    assert r["adapter"]["no_call_rate"] == 1.0 and r["adapter"]["call_turns"] == 8
    assert r["base"]["tool_call_rate"] == 0.0 and r["base"]["function_name_acc"] == 0.0 and r["base"]["json_valid_rate"] is None
    assert set(r["adapter"]["final_answer_loss"]) == {"twain", "franklin", "onion", "neutral"}


def test_evaluate_really_generates_and_stops_at_the_time_budget(cfg, adapter):
    t = time.monotonic()
    r = ev.evaluate(cfg, adapter, max_examples=2, max_new_tokens=4, time_budget_s=600, progress=False)
    assert r["turns"] == r["turns_total"] == 5 and not r["partial"]
    assert len(r["samples"]) == 3 and all(isinstance(s["adapter"], str) for s in r["samples"])
    short = ev.evaluate(cfg, adapter, max_examples=7, max_new_tokens=64, time_budget_s=0.5, progress=False)
    assert short["partial"] and short["turns"] < short["turns_total"]
    assert time.monotonic() - t < 120


def test_command_ends_with_the_adapter_json(adapter, cfg, tmp_path):
    r = subprocess.run([sys.executable, "-m", "tasks.serve.evaluate", "--config", str(CPU_CONFIG), "--adapter", str(adapter),
                        "--set", f"data.validation={cfg['data']['validation']}", "--max-examples", "1", "--max-new-tokens", "2",
                        "--e2e", "1", "--e2e-real", "1", "--e2e-new-tokens", "4"],
                       cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ev.METRICS:
        assert key in last and key in last["base"]
    assert last["turns"] == 3 and "tool_call_rate" in r.stdout
    assert last["e2e_conversations"] == 2 and "e2e_grounded_rate" in last["base"] and "e2e_grounded_rate" in r.stdout


def test_command_without_adapter_fails_clearly(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tasks.serve.evaluate", "--config", str(CPU_CONFIG), "--adapter", str(tmp_path / "none")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 1 and "adapter_config.json" in r.stderr and "ADAPTER=" in r.stderr


def test_adapter_of_another_base_is_refused(adapter, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(adapter, other)
    cfg = json.loads((other / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "mistralai/Mistral-7B-Instruct-v0.2"
    (other / "adapter_config.json").write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, "-m", "tasks.serve.evaluate", "--config", str(CPU_CONFIG), "--adapter", str(other)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 1 and "trained on 'mistralai/Mistral-7B-Instruct-v0.2'" in r.stderr and "CONFIG=" in r.stderr


def test_first_turns_and_real_questions_on_the_tiny_model(cfg, adapter):
    import datetime as dt

    from tasks.serve import real_questions as rq

    r = ev.evaluate(cfg, adapter, max_examples=3, max_new_tokens=4, time_budget_s=600, progress=False, first_turns=True,
                    real_questions=3, today=dt.date(2026, 12, 1))
    assert r["turns"] == r["turns_total"] == 3 and r["first_turns"]  # one turn per conversation
    assert r["real"]["questions"] == 3 and r["real"]["reference_date"] == "2026-12-01" and not r["real"]["partial"]
    for which in ("base", "adapter"):
        assert set(rq.METRICS) <= set(r[which])
        assert r[which]["real_call_questions"] + r[which]["real_abstain_questions"] == 3
    line = ev.last_line(r)
    assert line["real_questions"] == 3 and "real_place_acc" in line and "real_place_acc" in line["base"]


def test_end_to_end_scores_sit_beside_todays_keys(cfg, adapter, capsys):
    import datetime as dt

    from tasks.serve import e2e

    r = ev.evaluate(cfg, adapter, max_examples=2, max_new_tokens=4, time_budget_s=600, progress=False, first_turns=True,
                    today=dt.date(2026, 12, 1), e2e_conversations=2, e2e_real=2, e2e_new_tokens=8)
    assert r["e2e"]["conversations"] == 4 and not r["e2e"]["partial"]  # two validation conversations, two real questions
    line = ev.last_line(r)
    for key in (*ev.METRICS, *e2e.METRICS):
        assert key in line and key in line["base"]
    assert line["e2e_conversations"] == 4 and "persona_classifier_acc" in line
    ev.report(r)
    assert "e2e_grounded_rate" in capsys.readouterr().out


def test_eval_with_a_server_prints_its_column_and_agreement(cfg, adapter, capsys, monkeypatch):
    """`make eval ENGINE=openai`: the same end-to-end scorer over an OpenAI-compatible server, beside the local
    adapter, with how often their verdicts agree; an unreachable server is one line before any model loads."""
    from http.server import BaseHTTPRequestHandler

    from tests.helpers_serve import Server

    def handler(server):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send({"object": "list", "data": [{"id": "weatherman", "object": "model"}]})

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                server.requests.append(self.path)
                self._send({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Which town do you mean?"}}]})

            def _send(self, body):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    api = Server(handler)
    try:
        monkeypatch.setattr(ev, "load_config", lambda config, overrides: cfg)
        ev.run(str(CPU_CONFIG), str(adapter), [], 2, 4, 600.0, ev.DEFAULT_TOLERANCE, True, 0, "2026-12-01", 2, 2, 8,
               "openai", api.url, "weatherman", None)
    finally:
        api.close()
    out = capsys.readouterr().out
    line = json.loads(out.strip().splitlines()[-1])
    assert line["server"]["e2e_conversations"] == 4 and 0.0 <= line["e2e_agreement"] <= 1.0
    assert "agree on" in out and api.requests and all(p == "/v1/chat/completions" for p in api.requests)
    assert ev.main(["--config", str(CPU_CONFIG), "--adapter", str(adapter), "--engine", "openai", "--base-url", api.url]) == 1
    assert "not reachable" in capsys.readouterr().err
