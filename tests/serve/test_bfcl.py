"""BFCL v4 in `make eval` (tasks.serve.bfcl): BFCL's functions in place of the weather tools, its answers scored
after its AST rules, and a real run of the SmolLM2 demo adapter on six of the ten recorded items (tests/recordings/bfcl,
Apache-2.0, attributed there)."""

import json

from tasks.serve import bfcl
from tasks.serve import evaluate as ev
from tasks.train import template
from tests.helpers_train import ROOT

RECORDED = ROOT / "tests" / "recordings" / "bfcl"


def _items(subset):
    return bfcl.load(RECORDED, subset, None)


def _call(name, **arguments):
    return ev.parse_output(" [TOOL_CALLS] " + json.dumps([{"name": name, "arguments": arguments, "id": "a1b2c3d4e"}]))


def test_recorded_items_load_with_their_answers():
    assert [i["id"] for i in _items("irrelevance")] == ["irrelevance_0", "irrelevance_1", "irrelevance_2", "irrelevance_103", "irrelevance_233"]
    simple = _items("simple_python")
    assert simple[1]["answer"] == [{"math.factorial": {"number": [5]}}]
    assert len(bfcl.load(RECORDED, "simple_python", 2)) == 2


def test_bfcl_types_become_json_schema_and_replace_the_weather_tools_in_the_prompt():
    item = _items("irrelevance")[1]  # math.sum: an array of "float" items inside a "dict"
    params = bfcl.tools_of(item)[0]["function"]["parameters"]
    assert params["type"] == "object" and params["properties"]["numbers"]["items"]["type"] == "number"
    any_param = bfcl.tools_of(_items("simple_python")[4])[0]["function"]["parameters"]["properties"]["data"]
    assert "type" not in any_param and any_param["description"]  # BFCL's "any": no JSON Schema type
    tok = template.load_tokenizer()
    prompt = tok.apply_chat_template(bfcl.messages_of(item), tools=bfcl.tools_of(item), tokenize=False)
    assert '[AVAILABLE_TOOLS] [{"name":"math.sum"' in prompt and '"type":"number"' in prompt
    assert "geocode" not in prompt and '"dict"' not in prompt and '"float"' not in prompt
    assert prompt.endswith(item["question"][0][0]["content"] + " [/INST]")


def test_simple_answers_are_matched_after_bfcl_rules():
    item = _items("simple_python")[0]  # calculate_triangle_area(base=10, height=5, unit in ["units", ""])
    ok = lambda parsed: bfcl.simple_ok(parsed, item)  # noqa: E731
    assert ok(_call("calculate_triangle_area", base=10, height=5))  # the optional unit left out
    assert ok(_call("calculate_triangle_area", base=10, height=5, unit="Units"))  # strings without case
    assert not ok(_call("calculate_triangle_area", base=10, height=6))
    assert not ok(_call("calculate_triangle_area", base=10))  # a required argument missing
    assert not ok(_call("calculate_triangle_area", base=10, height=5, colour="red"))  # an unknown argument
    assert not ok(_call("calculate_area", base=10, height=5))
    assert not ok(_call("calculate_triangle_area", base=10.5, height=5))
    assert not ok(_call("calculate_triangle_area", base=10.0, height=5))  # a float where BFCL's type is integer
    assert not ok(ev.parse_output("The area is 25."))
    two = ev.parse_output(" [TOOL_CALLS] " + json.dumps([{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}] * 2))
    assert not ok(two)
    hypot = _items("simple_python")[2]  # z in ["", 0]: left out or 0
    assert bfcl.simple_ok(_call("math.hypot", x=4, y=5), hypot) and bfcl.simple_ok(_call("math.hypot", x=4, y=5, z=0), hypot)
    assert not bfcl.simple_ok(_call("math.hypot", x=4, y=5, z=1), hypot)


def test_scores_count_no_call_for_irrelevance_and_matches_for_simple():
    irrelevant = _items("irrelevance")[:4]
    parsed = [ev.parse_output("I cannot help with that."), _call("math.sum", numbers=[1.0]), ev.parse_output("No."),
              ev.parse_output("[TOOL_CALLS] [broken")]
    assert bfcl.score("irrelevance", irrelevant, parsed) == 0.5  # a broken call is still a call
    simple = _items("simple_python")[:2]
    assert bfcl.score("simple_python", simple, [_call("calculate_triangle_area", base=10, height=5), _call("math.factorial", number=6)]) == 0.5
    assert bfcl.score("simple_python", [], []) is None


def test_eval_json_names_the_figures_and_their_source():
    result = {"adapter": {"tool_call_rate": 1.0}, "base": {"tool_call_rate": 0.0}, "turns": 1, "turns_total": 1, "partial": False,
              "bfcl": {"source": bfcl.SOURCE, "subsets": {"irrelevance": {"items": 5, "base": 0.2, "adapter": 0.6},
                                                         "simple_python": {"items": 5, "base": 0.4, "adapter": 0.0}}}}
    line = ev.last_line(result)
    assert line["bfcl_irrelevance"] == 0.6 and line["base"]["bfcl_irrelevance"] == 0.2
    assert line["bfcl_simple_python"] == 0.0 and line["bfcl_simple_python_items"] == 5
    assert "bfcl-eval 2026.3.23" in line["bfcl_source"] and "Apache-2.0" in line["bfcl_source"]


def test_missing_package_skips_the_benchmark_with_the_install_command(monkeypatch, capsys):
    monkeypatch.setattr(bfcl, "data_folder", lambda: None)
    assert bfcl.evaluate(None, None, "cpu", ev._adapter, limit=1, max_new_tokens=1, time_budget_s=1) is None
    assert "pip install --no-deps bfcl-eval==2026.3.23" in capsys.readouterr().out  # warnings go to stdout (tasks.ui)


def test_demo_adapter_on_recorded_items(smol_demo):
    """The real loop on SmolLM2 + the demo adapter: every item scored for both, from outputs that differ."""
    from tasks.config import load_config
    from tests.helpers_smol import SMOL_CONFIG

    adapter, proc = smol_demo
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    model, tok, choice = ev.load(load_config(SMOL_CONFIG), adapter)
    # Three items per subset, 40 new tokens: a call takes about 30 SmolLM2 tokens. The budget is generous for a busy machine.
    result = bfcl.evaluate(model, tok, choice.device, ev._adapter, limit=3, max_new_tokens=40, time_budget_s=1800, folder=RECORDED,
                           progress=False)
    for subset in bfcl.SUBSETS:
        s = result["subsets"][subset]
        assert s["items"] == s["items_asked"] == 3 and not s["partial"]
        assert all(0.0 <= s[w] <= 1.0 for w in ("base", "adapter"))
    # The adapter changes what the model writes (on irrelevance_0 the base copies the tools block, the demo adapter stops at once).
    assert any(s["base"] != s["adapter"] for s in result["samples"])
    assert {s["subset"] for s in result["samples"]} == set(bfcl.SUBSETS)
