"""The generated dataset: every consistency rule of issue 3 checked on the whole 16,000-line set,
determinism (same bytes every run, and the committed files are what the generator writes), the
split, the gazetteer, the weather model's plausibility, answer variety and the data links."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tasks.data import generate as gd

from tasks.data import gazetteer, links
from tasks.data.personas import PERSONAS

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "synthetic"
WEATHER_TOOLS = ("get_current_weather", "get_forecast")


@pytest.fixture(scope="module")
def full() -> list[dict]:
    return gd.generate(gd.N_TOTAL, gd.SEED)


def calls(conv: dict) -> list[tuple[int, str, dict]]:
    """(message index, function name, parsed arguments) of every tool call, in order."""
    out = []
    for i, m in enumerate(conv["messages"]):
        for tc in m.get("tool_calls") or []:
            out.append((i, tc["function"]["name"], json.loads(tc["function"]["arguments"])))
    return out


def results(conv: dict) -> dict[str, dict]:
    """tool_call_id -> parsed tool result."""
    return {m["tool_call_id"]: json.loads(m["content"]) for m in conv["messages"] if m["role"] == "tool"}


def users(conv: dict) -> list[str]:
    return [m["content"] for m in conv["messages"] if m["role"] == "user"]


def answers(conv: dict) -> list[str]:
    return [m["content"] for m in conv["messages"] if m["role"] == "assistant" and m.get("content")]


# An independent reading of how many days a user asked for (not the generator's phrase table).
_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                     "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split())}
_WORDS |= {f"twenty-{w}": 20 + i for w, i in list(_WORDS.items()) if 0 < i < 10} | {"thirty": 30}


def days_asked(text: str) -> int | None:
    t = text.lower()
    for m in re.finditer(r"\b(\d+|[a-z]+(?:-[a-z]+)?)[ -]days?\b", t):
        word = m.group(1)
        if word.isdigit():
            return int(word)
        if word in _WORDS:
            return _WORDS[word]
    for phrase, days in (("fortnight", 14), ("two weeks", 14), ("two-week", 14), ("three weeks", 21),
                         ("month", 30), ("week", 7), ("tomorrow", 2), ("today", 1)):
        if phrase in t:
            return days
    return None


def numbers_in(value) -> set[float]:
    """Every number a tool result holds, including those inside strings (dates)."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, (int, float)):
        return {float(value)}
    if isinstance(value, str):
        return {float(x) for x in re.findall(r"\d+(?:\.\d+)?", value)}
    if isinstance(value, dict):
        value = list(value.values())
    return set().union(*(numbers_in(v) for v in value)) if value else set()


# ----------------------------------------------------------------------------- mix and shape


def test_persona_and_scenario_counts_are_exact(full):
    c = gd.counts(full)
    assert c["persona"] == {"twain": 7040, "franklin": 2480, "onion": 1520, "neutral": 4960}
    humour = sum(1 for x in full if PERSONAS[x["tags"]["persona"]].humorous) / len(full)
    assert humour == pytest.approx(0.69)
    shares = {s: n / len(full) for s, n in c["scenario"].items()}
    assert set(shares) == set(gd.SCENARIOS)
    assert shares["geocode_then_weather"] >= 0.10
    assert shares["multi_turn"] >= 0.10
    assert sum(shares[s] for s in gd.ERROR_SCENARIOS) >= 0.15
    assert shares["no_tool"] >= 0.05
    # the same scenario mix inside every persona (within one conversation of rounding)
    for persona, row in c["persona_scenario"].items():
        n = c["persona"][persona]
        for scenario, k in row.items():
            assert abs(k - n * gd.SCENARIO_SHARES[scenario]) <= 1, (persona, scenario)


def test_system_prompt_is_the_persona_and_tools_are_the_projects(full):
    for conv in full:
        first = conv["messages"][0]
        assert first == {"role": "system", "content": PERSONAS[conv["tags"]["persona"]].system}
        assert "geocode" in first["content"] and "get_forecast" in first["content"]
        assert "tools" not in conv  # absent = the project's tools, which the template lists in the first [INST]


def test_forecast_days_called_equal_days_asked(full):
    checked = 0
    for conv in full:
        asked = None
        tool_days = []
        res = results(conv)
        for m in conv["messages"]:
            if m["role"] == "user":
                d = days_asked(m["content"])
                asked = d if d is not None else asked
            for tc in m.get("tool_calls") or []:
                if tc["function"]["name"] == "get_forecast":
                    days = json.loads(tc["function"]["arguments"])["days"]
                    assert days == asked, f"{conv['metadata']['id']}: asked {asked}, called {days}: {users(conv)}"
                    assert 1 <= days <= 14
                    tool_days.append(days)
                    checked += 1
                    if "daily" in res[tc["id"]]:  # the forecast returned exactly the days requested
                        assert len(res[tc["id"]]["daily"]["time"]) == days
        if tool_days:
            assert conv["tags"]["days"] == tool_days[-1]
    assert checked > 4000


def test_weather_calls_use_coordinates_from_the_user_or_a_geocode_result(full):
    for conv in full:
        known: set[tuple[float, float]] = set()
        res = results(conv)
        for m in conv["messages"]:
            if m["role"] == "user":
                nums = [float(x) for x in re.findall(r"-?\d+\.\d+|-?\d+(?=\s*,\s*-?\d)", m["content"])]
                known |= {(a, b) for a, b in zip(nums, nums[1:], strict=False)}
            for tc in m.get("tool_calls") or []:
                args = json.loads(tc["function"]["arguments"])
                if tc["function"]["name"] in WEATHER_TOOLS:
                    assert (args["latitude"], args["longitude"]) in known, conv["metadata"]["id"]
                elif tc["function"]["name"] == "geocode_location":
                    for place in res[tc["id"]].get("results", []):
                        known.add((place["latitude"], place["longitude"]))


def test_geocode_results_are_the_gazetteer_coordinates_of_the_city_asked(full):
    for conv in full:
        res = results(conv)
        for m in conv["messages"]:
            for tc in m.get("tool_calls") or []:
                r = res[tc["id"]]
                if tc["function"]["name"] != "geocode_location" or "error" in r:
                    continue
                args = json.loads(tc["function"]["arguments"])
                city = gazetteer.geocode(args["city"])
                if city is None:
                    assert r == {"results": []}
                else:
                    (hit,) = r["results"]
                    assert (hit["name"], hit["latitude"], hit["longitude"]) == (city.name, city.latitude, city.longitude)
                    if "country" in args:
                        assert args["country"] == city.country


def test_geocode_then_weather_is_two_tool_rounds(full):
    for conv in (c for c in full if c["tags"]["scenario"] == "geocode_then_weather"):
        names = [name for _, name, _ in calls(conv)]
        assert names[0] == "geocode_location" and names[1] in WEATHER_TOOLS and len(names) == 2
        roles = [m["role"] for m in conv["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]


def test_current_and_forecast_by_coordinates_are_one_round(full):
    for conv in (c for c in full if c["tags"]["scenario"] in ("current", "forecast")):
        names = [name for _, name, _ in calls(conv)]
        assert names == ["get_current_weather" if conv["tags"]["scenario"] == "current" else "get_forecast"]


def test_multi_turn_later_turns_depend_on_earlier_ones(full):
    variants = Counter()
    for conv in (c for c in full if c["tags"]["scenario"] == "multi_turn"):
        v = conv["tags"]["variant"]
        variants[v] += 1
        assert len(users(conv)) >= 2 and len(answers(conv)) >= 2, conv["metadata"]["id"]
        cs = calls(conv)
        weather = [(n, a) for _, n, a in cs if n in WEATHER_TOOLS]
        geos = [a["city"] for _, n, a in cs if n == "geocode_location"]
        if v in ("and_tomorrow", "more_days"):
            # same place, no second geocode: the coordinates come from the first turn
            assert len(geos) == 1 and len(weather) == 2
            assert weather[0][1]["latitude"] == weather[1][1]["latitude"]
            assert weather[1][0] == "get_forecast"
            if v == "more_days":
                assert weather[1][1]["days"] > weather[0][1]["days"]
        elif v in ("follow_up_city", "compare"):
            assert len(geos) == 2 and geos[0] != geos[1] and len(weather) == 2
            assert weather[0][0] == weather[1][0]
            if v == "compare":
                res = [r for r in results(conv).values() if "current" in r]
                final = answers(conv)[-1]
                assert geos[0] in final and geos[1] in final
                for r in res:
                    assert json.dumps(r["current"]["temperature_2m"]) in final
        else:
            assert v == "clarify_place"
            first_answer = next(m for m in conv["messages"] if m["role"] == "assistant")
            assert "tool_calls" not in first_answer and "?" in first_answer["content"]
            assert len(geos) == 1 and geos[0] in users(conv)[1]
    assert set(variants) == {"follow_up_city", "and_tomorrow", "compare", "more_days", "clarify_place"}
    assert min(variants.values()) > 300


def test_error_scenarios_have_the_error_and_an_explanation(full):
    for conv in (c for c in full if c["tags"]["scenario"].startswith("error_")):
        msgs, scenario = conv["messages"], conv["tags"]["scenario"]
        res = results(conv)
        if scenario == "error_unknown_place":
            i = next(k for k, m in enumerate(msgs) if m["role"] == "tool")
            assert json.loads(msgs[i]["content"]) == {"results": []}
            bad = json.loads(msgs[i - 1]["tool_calls"][0]["function"]["arguments"])["city"]
            assert gazetteer.geocode(bad) is None
            assert msgs[i + 1]["role"] == "assistant" and bad in msgs[i + 1]["content"]
        elif scenario == "error_tool":
            i = next(k for k, m in enumerate(msgs) if m["role"] == "tool" and "error" in json.loads(m["content"]))
            err = json.loads(msgs[i]["content"])
            assert err["error"] is True and err["reason"]
            assert msgs[i + 1]["role"] == "assistant" and "tool_calls" not in msgs[i + 1]
            assert err["reason"] in msgs[i + 1]["content"]
            if conv["tags"]["variant"].endswith("_then_retried"):
                assert any("error" not in r for r in res.values() if "current" in r or "daily" in r)
        else:
            asked = days_asked(users(conv)[0])
            assert asked is not None and asked > 14, users(conv)[0]
            assert conv["tags"]["days_asked"] == asked
            assert "tool_calls" not in msgs[2] and re.search("fourteen|two weeks|two-week", msgs[2]["content"])
        assert msgs[-1]["role"] == "assistant" and msgs[-1]["content"]


def test_no_tool_conversations_call_nothing(full):
    for conv in (c for c in full if c["tags"]["scenario"] == "no_tool"):
        assert calls(conv) == []
        assert [m["role"] for m in conv["messages"]] == ["system", "user", "assistant"]


def test_every_number_an_answer_states_comes_from_a_tool_result(full):
    checked = 0
    for conv in full:
        seen: set[float] = set()
        for m in conv["messages"]:
            if m["role"] == "tool":
                seen |= numbers_in(json.loads(m["content"]))
            elif m["role"] == "assistant" and m.get("content"):
                for x in re.findall(r"-?\d+(?:\.\d+)?", m["content"]):
                    assert float(x) in seen, f"{conv['metadata']['id']}: {x} not in the tool results: {m['content']}"
                    checked += 1
    assert checked > 30000


def test_answers_are_varied(full):
    stats = gd.answer_pattern_stats(full)
    assert stats["answers"] > 16000
    assert stats["max_sentence_pattern_share"] <= 0.01, stats
    assert stats["max_answer_pattern_share"] <= 0.01, stats


def test_answer_patterns_mask_values():
    names = gd._names_pattern()
    a = gd.answer_sentence_patterns("In Paris it's 17.3°C with light rain. Monday: -2.0°C.", names)
    b = gd.answer_sentence_patterns("In St. Louis it's -4.0°C with heavy snow. Friday: 3.5°C.", names)
    assert a == b == {"In @ it's #°C with ~.", "~: #°C."}


# ----------------------------------------------------------------------------- places and weather


def test_gazetteer_has_200_real_cities_with_valid_coordinates():
    assert len(gazetteer.CITIES) >= 200
    assert len({c.name for c in gazetteer.CITIES}) == len(gazetteer.CITIES)
    for c in gazetteer.CITIES:
        assert -90 <= c.latitude <= 90 and -180 <= c.longitude <= 180 and len(c.country_code) == 2
    # spot checks against known coordinates
    for name, lat, lon in (("Paris", 48.86, 2.35), ("Sydney", -33.87, 151.21), ("Denver", 39.74, -104.99), ("Quito", -0.18, -78.47)):
        c = gazetteer.geocode(name)
        assert abs(c.latitude - lat) < 0.1 and abs(c.longitude - lon) < 0.1
    assert all(gazetteer.geocode(p) is None for p in gazetteer.UNKNOWN_PLACES)


def test_weather_is_plausible_for_latitude_hemisphere_and_season(full):
    by_city = {(c.latitude, c.longitude): c for c in gazetteer.CITIES}
    month_temps: dict[tuple[str, int], list[float]] = defaultdict(list)
    for conv in full:
        for r in results(conv).values():
            if "current" not in r:
                continue
            now, city = r["current"], by_city[(r["latitude"], r["longitude"])]
            t, code = now["temperature_2m"], now["weather_code"]
            month = int(now["time"][5:7])
            # snow only on a freezing day (the afternoon may climb a few degrees), thunder on a warm one
            if code in (71, 73, 75, 85):
                assert t <= 4.5, (city.name, t)
            if code == 95:
                assert t >= 12.0, (city.name, t)
            if abs(city.latitude) < 15 and city.elevation < 500:
                assert 10 <= t <= 45, (city.name, t)
            if city.latitude > 55 and month in (12, 1, 2):
                assert t < 12, (city.name, t)
            band = "north" if 35 <= city.latitude <= 60 else "south" if -45 <= city.latitude <= -30 else None
            if band:
                month_temps[(band, month)].append(t)
            assert 0 <= now["relative_humidity_2m"] <= 100 and now["wind_speed_10m"] >= 0
        for r in results(conv).values():
            if "daily" in r:
                d = r["daily"]
                assert all(lo < hi for lo, hi in zip(d["temperature_2m_min"], d["temperature_2m_max"], strict=True))
                days = [dt.date.fromisoformat(x) for x in d["time"]]
                assert all((b - a).days == 1 for a, b in zip(days, days[1:], strict=False))
    mean = lambda band, months: statistics.fmean(t for m in months for t in month_temps[(band, m)])  # noqa: E731
    assert mean("north", (6, 7, 8)) > mean("north", (12, 1, 2)) + 12
    assert mean("south", (12, 1, 2)) > mean("south", (6, 7, 8)) + 6


def test_calls_in_one_conversation_see_the_same_weather(full):
    """A longer forecast repeats the shorter one's days; current conditions sit in today's range."""
    checked = 0
    for conv in full:
        res = [r for r in results(conv).values() if "error" not in r]
        by_place = defaultdict(list)
        for r in res:
            if "current" in r or "daily" in r:
                by_place[(r["latitude"], r["longitude"])].append(r)
        for rs in by_place.values():
            daily = [r["daily"] for r in rs if "daily" in r]
            for a in daily:
                for b in daily:
                    n = min(len(a["time"]), len(b["time"]))
                    assert {k: v[:n] for k, v in a.items()} == {k: v[:n] for k, v in b.items()}
            for r in rs:
                if "current" in r:
                    for d in daily:
                        assert d["time"][0] == r["current"]["time"][:10]
                        assert d["temperature_2m_min"][0] <= r["current"]["temperature_2m"] <= d["temperature_2m_max"][0]
                        assert d["weather_code"][0] == r["current"]["weather_code"]
                        checked += 1
    assert checked > 300


# ----------------------------------------------------------------------------- determinism, split, speed


def test_generate_is_fast_deterministic_and_keeps_the_mix_for_small_n():
    t0 = time.perf_counter()
    a = gd.generate(400, seed=7)
    assert time.perf_counter() - t0 < 2.0
    assert a == gd.generate(400, seed=7)
    assert a != gd.generate(400, seed=8)
    small = gd.generate(50)
    assert len(small) == 50
    assert Counter(c["tags"]["persona"] for c in small) == {"twain": 22, "neutral": 15, "franklin": 8, "onion": 5}
    assert len({c["tags"]["scenario"] for c in gd.generate(100)}) == len(gd.SCENARIOS)


def test_split_is_persona_stratified_90_10_and_disjoint(full):
    train, val = gd.split(full)
    assert (len(train), len(val)) == (14400, 1600)
    assert not {c["metadata"]["id"] for c in train} & {c["metadata"]["id"] for c in val}
    vc = gd.counts(val)
    assert vc["persona"] == {"twain": 704, "franklin": 248, "onion": 152, "neutral": 496}
    for persona, row in vc["persona_scenario"].items():
        assert all(k > 0 for k in row.values()), persona


def test_same_bytes_every_run(tmp_path):
    """Two full runs of the CLI (generate, validate, token statistics) write identical files."""
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        r = subprocess.run([sys.executable, "-m", "tasks.data.generate", "--out", str(out), "--n", "300"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Data written" in r.stdout
        outs.append({f: (out / f).read_bytes() for f in (gd.TRAIN_FILE, gd.VALIDATION_FILE, gd.METADATA_FILE)})
    assert outs[0] == outs[1]
    meta = json.loads(outs[0][gd.METADATA_FILE])
    # every 10th conversation of each persona: 132, 46, 29 and 93 conversations give 13 + 4 + 2 + 9
    assert meta["n_total"] == 300 and meta["files"][gd.VALIDATION_FILE]["lines"] == 28
    assert meta["tokens"]["conversations"] == 300 and set(meta["tokens"]["over_max_seq_length"]) == {"cpu", "m4", "h100"}
    assert meta["tokens"]["median"] <= meta["tokens"]["p95"] <= meta["tokens"]["max"]


@pytest.mark.skipif(not (DATA / gd.METADATA_FILE).is_file(), reason="data not generated yet (make data)")
def test_committed_files_are_what_the_generator_writes(tmp_path):
    meta = json.loads((DATA / gd.METADATA_FILE).read_text(encoding="utf-8"))
    fresh = gd.write_dataset(tmp_path, meta["n_total"], meta["seed"], with_tokens=False)
    for name in (gd.TRAIN_FILE, gd.VALIDATION_FILE):
        assert fresh["files"][name]["sha256"] == meta["files"][name]["sha256"] == gd.sha256(DATA / name), name
    for key in ("counts", "splits", "humour_ratio", "answers", "generator_version"):
        assert fresh[key] == meta[key], key
    assert meta["answers"]["max_sentence_pattern_share"] <= 0.01
    assert meta["tokens"]["conversations"] == 16000


# ----------------------------------------------------------------------------- links


def test_link_data_is_idempotent_and_refuses_to_clobber_a_file(tmp_path, capsys):
    for name in links.LINKS.values():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}\n", encoding="utf-8")
    links.run(tmp_path)
    train = tmp_path / "data/processed/train.jsonl"
    assert train.is_symlink() and os.readlink(train) == "../synthetic/final_train.jsonl"
    assert (tmp_path / "data/processed/val.jsonl").resolve() == (tmp_path / "data/synthetic/final_validation.jsonl").resolve()
    before = train.lstat().st_ino
    links.run(tmp_path)
    assert train.lstat().st_ino == before
    assert "(already linked)" in capsys.readouterr().out
    train.unlink()
    train.write_text("mine\n", encoding="utf-8")
    assert links.main(["--root", str(tmp_path)]) == 1
    assert train.read_text(encoding="utf-8") == "mine\n"
    assert "regular file is in the way" in capsys.readouterr().err
