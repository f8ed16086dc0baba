"""AnythingLLM custom agent skills (deploy/anythingllm/agent-skills): the manifests against configs/tools.json and
AnythingLLM's manifest rules, the tool list AnythingLLM builds from them, and handler.js run with node on the same
recorded Open-Meteo answers as tasks/serve/tools.py, compared byte for byte with the Python tools' results.

How AnythingLLM turns a skill into a tool was read in its source (Mintplex-Labs/anything-llm, v1.11.1 to 1.16.0):
server/utils/agents/imported.js names the function after plugin.json's `hubId` (the folder name) and passes
`{type: "object", properties: entrypoint.params, additionalProperties: false}` as its parameters, with no
`required` list; providers/helpers/tooled.js formatFunctionsToTools sends `{type: "function", function: {name,
description, parameters}}` to Ollama; the handler runs as `fn.handler(args)` with the function config as `this`.
"""

import json
import shutil
import subprocess

import pytest

from tasks.data import weather
from tasks.serve import tools
from tasks.train.template import TOOLS
from tests.helpers_after_training import ROOT


SKILLS = ROOT / "deploy" / "anythingllm" / "agent-skills"
MANIFEST_KEYS = ("active", "hubId", "name", "schema", "version", "description", "entrypoint", "imported")  # AnythingLLM's required keys
NODE = shutil.which("node")


def _manifest(name: str) -> dict:
    return json.loads((SKILLS / name / "plugin.json").read_text(encoding="utf-8"))


def anythingllm_tools() -> list[dict]:
    """The `tools` AnythingLLM's Ollama agent provider sends for these skills (imported.js + tooled.js, as read)."""
    out = []
    for folder in sorted(p for p in SKILLS.iterdir() if (p / "plugin.json").is_file()):
        m = _manifest(folder.name)
        if m["active"]:
            params = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                      "properties": m["entrypoint"]["params"], "additionalProperties": False}
            out.append({"type": "function", "function": {"name": m["hubId"], "description": m["description"], "parameters": params}})
    return out


def test_one_skill_per_trained_tool_with_its_name_and_parameters():
    folders = sorted(p.name for p in SKILLS.iterdir() if (p / "plugin.json").is_file())
    assert folders == sorted(t["function"]["name"] for t in TOOLS)
    for tool in TOOLS:
        f = tool["function"]
        m = _manifest(f["name"])
        assert all(k in m for k in MANIFEST_KEYS)
        assert m["hubId"] == f["name"] and m["active"] is True and m["imported"] is True and m["schema"] == "skill-1.0.0"
        assert m["description"] == f["description"] and m["entrypoint"]["file"] == "handler.js"
        props = f["parameters"]["properties"]
        params = m["entrypoint"]["params"]
        assert list(params) == list(props)
        for key, spec in props.items():
            # AnythingLLM's manifest allows string, number and boolean: integer days travel as number, checked in handler.js.
            want = {"type": "number" if spec["type"] in ("number", "integer") else spec["type"]}
            if "description" in spec:  # the trained block carries a parameter description only where tools.json has one
                want["description"] = spec["description"]
            assert params[key] == want
        handler = (SKILLS / f["name"] / "handler.js").read_text(encoding="utf-8")
        assert 'require("../weatherman-lib/open-meteo.js")' in handler and f'weatherman.run("{f["name"]}", args, this)' in handler


def test_anythingllm_sends_the_trained_names_and_parameters():
    sent = {t["function"]["name"]: t["function"] for t in anythingllm_tools()}
    trained = {t["function"]["name"]: t["function"] for t in TOOLS}
    assert set(sent) == set(trained)  # Ollama accepts a call only to a name in the request's tools
    for name, f in sent.items():
        assert f["description"] == trained[name]["description"]
        assert list(f["parameters"]["properties"]) == list(trained[name]["parameters"]["properties"])
        assert "required" not in f["parameters"]  # AnythingLLM drops it: handler.js checks required arguments itself


def test_the_description_table_is_the_generators():
    table = json.loads((SKILLS / "weatherman-lib" / "wmo.json").read_text(encoding="utf-8"))
    assert {int(k): v for k, v in table.items()} == {**weather.WMO, **weather.WMO_LIVE_ONLY}, (
        "weatherman-lib/wmo.json differs from tasks/data/weather.py; rewrite it: python -c 'import json; "
        "from tasks.data import weather as w; print(json.dumps({str(k): v for k, v in sorted({**w.WMO, **w.WMO_LIVE_ONLY}.items())}, "
        "indent=1, ensure_ascii=False))' > deploy/anythingllm/agent-skills/weatherman-lib/wmo.json")


CALLS = [
    ("geocode_location", {"city": "Lisbon"}),
    ("geocode_location", {"city": "Lisbon", "country": "United States"}),
    ("geocode_location", {"city": "Lisbon", "country": "us"}),
    ("geocode_location", {"city": "Xqzzyville"}),
    ("geocode_location", {"city": "Lisbon", "country": "USA"}),
    ("geocode_location", {"city": "Lisbon, Portugal"}),
    ("geocode_location", {"city": "Lisbon", "country": "France"}),
    ("geocode_location", {"city": "Portland"}),  # a shared name: the sizeable places with their regions
    ("geocode_location", {"city": "Portland", "country": "AU"}),
    ("get_current_weather", {"latitude": 38.72, "longitude": -9.13}),
    ("get_current_weather", {"latitude": 38, "longitude": -9.13}),
    ("get_forecast", {"latitude": 38.72, "longitude": -9.13, "days": 2}),
    ("get_forecast", {"latitude": 38.72, "longitude": -9.13, "days": 7}),
    ("get_forecast", {"latitude": 38.72, "longitude": -9.13, "days": 20}),
    ("get_forecast", {"latitude": 38.72, "longitude": -9.13}),
    ("get_current_weather", {"latitude": 98, "longitude": 0}),
    ("get_current_weather", {"latitude": 1, "longitude": 2, "units": "F"}),
]
# The place-filter table the Python tools are tested on (tests/serve/test_chat.py): node must agree case by case.
FILTER_CASES = json.loads((ROOT / "tests" / "recordings" / "open-meteo" / "geocode_filter_cases.json").read_text(encoding="utf-8"))["cases"]
CALLS += [("geocode_location", case["args"]) for case in FILTER_CASES]

RUNNER = r"""
const calls = JSON.parse(process.argv[1]);
(async () => {
  for (const [name, args] of calls) {
    const seen = [];
    // As AnythingLLM calls it: the function config (hubId as name, the handler spread in) is `this`.
    const fn = { name, introspect: (m) => seen.push(m), ...require(`${process.env.SKILLS}/${name}/handler.js`).runtime };
    const out = await fn.handler(args);
    console.log(JSON.stringify({ out, type: typeof out, introspected: seen.length }));
  }
})().catch((e) => { console.error(e); process.exit(3); });
"""


def _node(calls, server_url: str, **env) -> list[dict]:
    proc = subprocess.run([NODE, "-e", RUNNER, json.dumps(calls)], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "SKILLS": str(SKILLS), "OPEN_METEO_GEOCODING_URL": server_url + "/v1/search",
                               "OPEN_METEO_FORECAST_URL": server_url + "/v1/forecast", **env})
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.mark.skipif(NODE is None, reason="node is not installed (AnythingLLM runs the skills on Node 18+)")
def test_handlers_answer_exactly_like_the_python_tools(open_meteo):
    got = _node(CALLS, open_meteo.url)
    assert len(got) == len(CALLS)
    for (name, args), row in zip(CALLS, got, strict=True):
        want = json.dumps(tools.call(name, args), ensure_ascii=False, separators=(",", ":"))
        assert row["type"] == "string" and row["out"] == want, (name, args)
    assert json.loads(got[0]["out"]) == {"results": [{"name": "Lisbon", "latitude": 38.72, "longitude": -9.13, "elevation": 45.0,
                                                      "country": "Portugal", "country_code": "PT"}]}
    assert '"elevation":45.0' in got[0]["out"] and got[0]["introspected"] == 1
    too_many = CALLS.index(("get_forecast", {"latitude": 38.72, "longitude": -9.13, "days": 20}))
    assert json.loads(got[too_many]["out"]) == {"error": True, "reason": "days=20: the forecast covers 1 to 14 days"}
    assert got[too_many]["introspected"] == 0  # refused before any request
    portland = json.loads(got[CALLS.index(("geocode_location", {"city": "Portland"}))]["out"])
    assert [r["admin1"] for r in portland["results"]] == ["Oregon", "Maine"]
    for case, row in zip(FILTER_CASES, got[-len(FILTER_CASES):], strict=True):
        assert [[r["country_code"], r["latitude"]] for r in json.loads(row["out"])["results"]] == case["want"], case["args"]


@pytest.mark.skipif(NODE is None, reason="node is not installed (AnythingLLM runs the skills on Node 18+)")
@pytest.mark.parametrize("status,reason", [(500, "Internal server error"), (503, "Service temporarily unavailable"),
                                           (429, "Too many requests, rate limit exceeded"),
                                           (400, "Forecast days is invalid. Allowed range 0 to 16.")])
def test_handler_failures_are_the_trained_error_results(open_meteo, status, reason):
    open_meteo.status = status
    [row] = _node([("get_forecast", {"latitude": 38.72, "longitude": -9.13, "days": 3})], open_meteo.url)
    assert json.loads(row["out"]) == {"error": True, "reason": reason}


@pytest.mark.skipif(NODE is None, reason="node is not installed (AnythingLLM runs the skills on Node 18+)")
def test_handler_timeout_and_unreachable(open_meteo):
    open_meteo.sleep = 1.5
    [row] = _node([("geocode_location", {"city": "Lisbon"})], open_meteo.url, OPEN_METEO_TIMEOUT_MS="300")
    assert json.loads(row["out"]) == {"error": True, "reason": "Request timed out"}
    open_meteo.sleep = 0
    url = open_meteo.url
    open_meteo.close()
    [row] = _node([("geocode_location", {"city": "Lisbon"})], url)
    assert json.loads(row["out"]) == {"error": True, "reason": "Upstream data source unavailable"}
