"""The generated dataset, checked on the whole 16,000-line set: the mix, tool chains, grounding (every
number a tool figure or an exact conversion of one), answers that answer their question, each kind of
generator fault of issue 13 (geocode arguments against the user's words, grammar, superlatives,
high-altitude climate), the held-out validation split, phrase variety per persona, determinism, and
the committed files being what the generator writes."""

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

from tasks.data import gazetteer, links, personas, phrasing, quality, snips, weather
from tasks.data import generate as gd
from tasks.data.convo import answers as answer_kinds
from tasks.data.convo import common, errors, no_tool, voice
from tasks.data.personas import PERSONAS

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "synthetic"
WEATHER_TOOLS = ("get_current_weather", "get_forecast")
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


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


def today_of(conv: dict) -> dt.date | None:
    m = re.search(r"Today is \w+, (\d+ \w+ \d{4})\.", conv["messages"][0]["content"])
    return dt.datetime.strptime(m.group(1), "%d %B %Y").date() if m else None


# ----------------------------------------------------------------------------- mix and shape


def test_persona_and_scenario_counts_are_exact(full):
    c = gd.counts(full)
    assert c["persona"] == {"twain": 7040, "franklin": 2480, "onion": 1520, "neutral": 4960}
    humour = sum(1 for x in full if PERSONAS[x["tags"]["persona"]].humorous) / len(full)
    assert humour == pytest.approx(0.69)
    shares = {s: n / len(full) for s, n in c["scenario"].items()}
    assert set(shares) == set(gd.SCENARIOS)
    assert shares["geocode_then_weather"] >= 0.30 and shares["multi_turn"] >= 0.10 and shares["no_tool"] >= 0.10
    assert sum(shares[s] for s in gd.ERROR_SCENARIOS) >= 0.15
    assert shares["current"] + shares["forecast"] <= 0.07  # raw coordinates are a small share now
    for persona, row in c["persona_scenario"].items():
        n = c["persona"][persona]
        for scenario, k in row.items():
            assert abs(k - n * gd.SCENARIO_SHARES[scenario]) <= 1, (persona, scenario)


def test_system_prompt_is_the_persona_with_todays_date_where_given(full):
    dated = 0
    for conv in full:
        persona = conv["tags"]["persona"]
        system = conv["messages"][0]
        today = today_of(conv)
        assert system == {"role": "system", "content": personas.system_prompt(persona, today)}
        assert "tools" not in conv
        if today is not None:
            dated += 1
            for r in results(conv).values():  # the date in the prompt is the date the tools report
                if "current" in r:
                    assert r["current"]["time"][:10] == today.isoformat()
                if "daily" in r:
                    assert r["daily"]["time"][0] == today.isoformat()
    assert 0.25 < dated / len(full) < 0.45


def test_system_prompts_are_shorter_than_before():
    from tasks.train import template

    tok = template.load_tokenizer()
    for name, before in gd.BEFORE["tokens"]["system_prompt_tokens"].items():
        n = len(tok(PERSONAS[name].system, add_special_tokens=False)["input_ids"])
        assert n <= before * 0.6, (name, n, before)


def test_forecast_days_match_the_day_the_user_named(full):
    """An independent reading of the user's words: N days, tomorrow, a weekday (with today's date)."""
    checked = Counter()
    for conv in full:
        today = today_of(conv)
        text = None
        for m in conv["messages"]:
            if m["role"] == "user":
                text = m["content"].lower()
            for tc in m.get("tool_calls") or []:
                if tc["function"]["name"] != "get_forecast":
                    continue
                days = json.loads(tc["function"]["arguments"])["days"]
                assert 1 <= days <= 14
                n = re.search(r"\bnext (\d+|[a-z]+) days\b", text)
                if n and (n.group(1).isdigit() or n.group(1) in phrasing.NUMBER_WORDS):
                    want = int(n.group(1)) if n.group(1).isdigit() else phrasing.NUMBER_WORDS.index(n.group(1))
                    assert days == want, (conv["metadata"]["id"], text, days)
                    checked["n_days"] += 1
                elif re.search(r"\b(fortnight|two weeks)\b", text):
                    assert days == 14, (conv["metadata"]["id"], text)
                    checked["fortnight"] += 1
                elif re.search(r"\btomorrow\b", text) and "after tomorrow" not in text and conv["tags"]["scenario"] != "multi_turn":
                    assert days == 2, (conv["metadata"]["id"], text, days)
                    checked["tomorrow"] += 1
                elif today is not None and (w := next((d for d in WEEKDAYS if re.search(rf"\b{d}\b", text)), None)):
                    last = today + dt.timedelta(days=days - 1)
                    assert WEEKDAYS[last.weekday()] == w, (conv["metadata"]["id"], text, days)
                    checked["weekday"] += 1
    assert min(checked.values()) > 100 and set(checked) == {"n_days", "fortnight", "tomorrow", "weekday"}, checked


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


def test_geocode_results_are_what_the_gazetteer_finds_for_the_arguments(full):
    for conv in full:
        res = results(conv)
        for m in conv["messages"]:
            for tc in m.get("tool_calls") or []:
                r = res[tc["id"]]
                if tc["function"]["name"] != "geocode_location" or "error" in r:
                    continue
                args = json.loads(tc["function"]["arguments"])
                found = gazetteer.geocode_all(args["city"], args.get("country"))
                assert [(x["name"], x["latitude"], x["longitude"]) for x in r["results"]] == \
                       [(c.name, c.latitude, c.longitude) for c in found]


def test_geocode_then_weather_is_two_tool_rounds(full):
    for conv in (c for c in full if c["tags"]["scenario"] == "geocode_then_weather"):
        names = [name for _, name, _ in calls(conv)]
        assert names[0] == "geocode_location" and names[1] in WEATHER_TOOLS and len(names) == 2
        roles = [m["role"] for m in conv["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]


def test_raw_coordinates_are_one_round_and_a_small_share(full):
    for conv in (c for c in full if c["tags"]["scenario"] in ("current", "forecast")):
        names = [name for _, name, _ in calls(conv)]
        assert names == ["get_current_weather" if conv["tags"]["scenario"] == "current" else "get_forecast"]
    turns = [u for c in full for u in users(c)]
    with_coords = sum(bool(re.search(r"-?\d+\.\d+\s*,\s*(lon|longitude)?\s*-?\d+\.\d+", u)) for u in turns)
    assert with_coords / len(turns) < 0.05


def test_compare_geocodes_both_places_in_parallel_and_names_the_warmer(full):
    seen = 0
    for conv in (c for c in full if c["tags"]["scenario"] == "compare"):
        msgs = conv["messages"]
        geo, wx = msgs[2], msgs[5]
        assert [tc["function"]["name"] for tc in geo["tool_calls"]] == ["geocode_location"] * 2
        assert [tc["function"]["name"] for tc in wx["tool_calls"]] in (["get_current_weather"] * 2, ["get_forecast"] * 2)
        assert [m["role"] for m in msgs[3:5]] == ["tool", "tool"] and [m["role"] for m in msgs[6:8]] == ["tool", "tool"]
        res = results(conv)
        places = [res[tc["id"]]["results"][0]["name"] for tc in geo["tool_calls"]]
        temps = []
        for tc in wx["tool_calls"]:
            r = res[tc["id"]]
            temps.append(r["current"]["temperature_2m"] if "current" in r else r["daily"]["temperature_2m_max"][-1])
        first = quality.lead(msgs[-1]["content"])
        for t in temps:  # both figures, in the units asked
            assert common.fmt(t) in first or common.fmt(common.to_fahrenheit(t)) in first, first
        if temps[0] != temps[1]:
            # the tool names "São Paulo", the answer may keep the user's "Sao Paulo"
            warmer = gazetteer.fold(places[0 if temps[0] > temps[1] else 1])
            assert warmer in gazetteer.fold(first.split(" warmer")[0].split(" wins")[0]), first
        seen += 1
    assert seen > 500


def test_ambiguous_places_are_resolved_by_hint_or_question(full):
    variants = Counter()
    for conv in (c for c in full if c["tags"]["scenario"] == "ambiguous_place"):
        v = conv["tags"]["variant"]
        variants[v] += 1
        res = results(conv)
        geo = next(tc for m in conv["messages"] for tc in m.get("tool_calls") or [] if tc["function"]["name"] == "geocode_location")
        found = res[geo["id"]]["results"]
        wx = next(json.loads(tc["function"]["arguments"]) for m in conv["messages"] for tc in m.get("tool_calls") or []
                  if tc["function"]["name"] in WEATHER_TOOLS)
        chosen = next(p for p in found if (p["latitude"], p["longitude"]) == (wx["latitude"], wx["longitude"]))
        said = " ".join(users(conv)).lower()
        if v == "ask":
            assert len(found) >= 2
            question = answers(conv)[0]
            assert "?" in question and all(p["admin1"] in question for p in found)
            assert chosen["admin1"].lower() in users(conv)[1].lower() or chosen["country"].lower() in users(conv)[1].lower()
        elif v == "hint":
            abbreviations = {"oregon": "or", "maine": "me", "california": "ca"}
            hint = chosen.get("admin1", "").lower()
            assert hint in said or chosen["country"].lower() in said or f", {abbreviations.get(hint, '?')}" in said, said
        else:
            assert v == "first" and chosen == found[0] and found[1]["admin1"] in answers(conv)[-1]
    assert min(variants.values()) > 50 and set(variants) == {"ask", "hint", "first"}


def test_multi_turn_dialogues_are_longer_and_later_turns_lean_on_earlier_ones(full):
    lengths = Counter()
    for conv in (c for c in full if c["tags"]["scenario"] == "multi_turn"):
        turns = quality.turns(conv)
        lengths[len(turns)] += 1
        assert len(turns) >= 2, conv["metadata"]["id"]
        k = 0
        for i, m in enumerate(conv["messages"]):
            if m["role"] == "user":
                k += 1
                text = m["content"]
                j = i + 1
                names = []
                while j < len(conv["messages"]) and conv["messages"][j]["role"] != "user":
                    names += [tc["function"]["name"] for tc in conv["messages"][j].get("tool_calls") or []]
                    j += 1
                if k > 1 and re.search(r"\b(there|day after|tomorrow|tmrw|fahrenheit|in f)\b", text.lower()) \
                        and not quality._places().search(text):
                    assert "geocode_location" not in names, (conv["metadata"]["id"], text)
    assert sum(v for k, v in lengths.items() if k >= 3) > 1500 and sum(v for k, v in lengths.items() if k >= 4) > 500, lengths


def test_follow_ups_answered_from_a_forecast_already_held_make_no_call(full):
    reused = 0
    for conv in (c for c in full if c["tags"]["scenario"] == "multi_turn"):
        for text, results_, answer in quality.turns(conv)[1:]:
            if not results_ and answer and "°" in answer:
                assert re.search(r"day after|next day|following day|tomorrow|tmrw|there|fahrenheit|\bf\b", text.lower()), text
                reused += 1
    assert reused > 200


def test_error_scenarios_have_the_error_and_an_explanation(full):
    for conv in (c for c in full if c["tags"]["scenario"].startswith("error_")):
        msgs, scenario = conv["messages"], conv["tags"]["scenario"]
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
        else:
            assert "tool_calls" not in msgs[2] and re.search("fourteen|two weeks", msgs[2]["content"])
        assert msgs[-1]["role"] == "assistant" and msgs[-1]["content"]


def test_unsupported_requests_are_answered_honestly(full):
    kinds = Counter()
    for conv in (c for c in full if c["tags"]["scenario"] == "unsupported"):
        v = conv["tags"]["variant"]
        kinds[v] += 1
        names = [n for _, n, _ in calls(conv)]
        final = answers(conv)[-1]
        if v == "hourly":
            assert names == ["geocode_location", "get_forecast"]
            assert re.search(r"\bhour", final) and "°" in final
        else:
            assert names == [], conv["metadata"]["id"]
            word = {"historical": r"past|back|history", "uv": r"\bUV\b", "air": r"air|pollen"}[v]
            assert re.search(word, final) and "°" not in final
    assert set(kinds) == {"hourly", "historical", "uv", "air"} and min(kinds.values()) > 100


def test_no_tool_conversations_call_nothing_and_stay_off_weather_jokes(full):
    variants = Counter()
    for conv in (c for c in full if c["tags"]["scenario"] == "no_tool"):
        variants[conv["tags"]["variant"]] += 1
        assert calls(conv) == []
        assert [m["role"] for m in conv["messages"]] == ["system", "user", "assistant"]
        text = answers(conv)[0]
        assert not re.search(r"\b(this sky|the sky today|today's sky)\b", text), text  # no weather data: no jokes about it
        if conv["tags"]["variant"] == "missing_place":
            assert "?" in text
    assert len({users(c)[0] for c in full if c["tags"]["scenario"] == "no_tool"}) > 200
    assert set(variants) == {"greeting", "thanks", "capabilities", "off_topic", "missing_place", "knowledge"}


def test_every_number_an_answer_states_is_a_tool_figure_or_an_exact_conversion(full):
    checked = conversions = 0
    for conv in full:
        seen: set[float] = set()
        for m in conv["messages"]:
            if m["role"] == "tool":
                seen |= numbers_in(json.loads(m["content"]))
            elif m["role"] == "user":
                seen |= {float(x) for x in re.findall(r"\d+(?:\.\d+)?", m["content"])}
            elif m["role"] == "assistant" and m.get("content"):
                converted = {round(x * 9 / 5 + 32, 1) for x in seen} | {round(x / 1.609344, 1) for x in seen}
                for x in re.findall(r"-?\d+(?:\.\d+)?", m["content"]):
                    v = abs(float(x)) if x.startswith("-") and float(x) not in seen else float(x)
                    assert float(x) in seen or float(x) in converted or v in seen, \
                        f"{conv['metadata']['id']}: {x} is neither a tool figure nor a conversion: {m['content']}"
                    checked += 1
                    conversions += float(x) not in seen
    assert checked > 40000 and conversions > 1000


def test_units_follow_the_request(full):
    asked = 0
    for conv in full:
        for text, res, answer in quality.turns(conv):
            if answer is None or not any("current" in r or "daily" in r for r in res):
                continue
            if re.search(r"fahrenheit|°F|\bin F\b|degrees F", text, re.IGNORECASE) and "°" in answer:
                assert "°F" in answer and "°C" not in quality.lead(answer), (text, answer)
                asked += 1
            if re.search(r"\bmph\b|miles per hour", text) and "km/h" in answer:
                raise AssertionError((text, answer))
    assert asked > 300


# ----------------------------------------------------------------------------- answers that answer


def test_every_weather_answer_addresses_its_question(full):
    problems = [p for conv in full for p in quality.address_problems(conv)]
    assert problems == [], problems[:10]
    shares = quality._verdict_shares(full)
    assert shares["yesno_questions"] > 1500 and shares["yesno_with_verdict"] == 1.0
    assert shares["wind_answer_names_wind"] == 1.0 and shares["rain_answer_names_rain"] == 1.0


def test_the_address_check_catches_an_answer_that_misses():
    conv = {"metadata": {"id": "x"}, "messages": [
        {"role": "user", "content": "Is it windy in Oslo tomorrow?"},
        {"role": "tool", "content": json.dumps({"daily": {}})},
        {"role": "assistant", "content": "Oslo has light rain today, 4.0°C. Take a coat."},
    ]}
    problems = quality.address_problems(conv)
    assert any("without a verdict" in p for p in problems)
    assert any("wind question" in p for p in problems)
    assert any("asked about tomorrow" in p for p in problems)
    conv["messages"][2]["content"] = "No: the wind in Oslo is 8.0 km/h tomorrow. Fine."
    assert quality.address_problems(conv) == []


def test_verdicts_agree_with_the_figures(full):
    """A yes to 'is it raining' means a rain code; a no to 'is it cold' means it is not cold."""
    for conv in full:
        for text, res, answer in quality.turns(conv):
            cur = [r["current"] for r in res if "current" in r]
            if answer is None or len(cur) != 1 or not quality.YESNO.match(text):
                continue
            first = quality.lead(answer)
            low = text.lower()
            if re.search(r"\bis it raining\b", low):
                assert first.startswith(("Yes", "I'm afraid")) == (cur[0]["weather_code"] in answer_kinds.RAIN_CODES), (text, first)
            if re.search(r"\bis it (cold|freezing)\b", low) and first.startswith("Yes"):
                assert cur[0]["temperature_2m"] <= 10


# ----------------------------------------------------------------------------- each kind of generator fault


def test_geocode_arguments_match_the_users_words(full):
    m = quality.geocode_match(full)
    assert m["calls"] > 12000 and m["share"] == 1.0, m["failures"]


def test_the_geocode_check_catches_an_added_or_a_dropped_country():
    def conv(user, args):
        return {"metadata": {"id": "x"}, "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "geocode_location", "arguments": json.dumps(args)}}]}]}
    assert quality.geocode_match([conv("Weather in Lyon?", {"city": "Lyon"})])["share"] == 1.0
    assert quality.geocode_match([conv("Weather in Lyon?", {"city": "Lyon", "country": "France"})])["share"] == 0.0
    assert quality.geocode_match([conv("Weather in Lyon, France?", {"city": "Lyon"})])["share"] == 0.0
    assert quality.geocode_match([conv("Weather in Paris?", {"city": "Lyon"})])["share"] == 0.0


def test_mentions_give_arguments_from_the_words_written():
    import random

    rng = random.Random(3)
    for _ in range(2000):
        city = rng.choice(gazetteer.CITIES)
        m = phrasing.mention(rng, city, lower=rng.random() < 0.5)
        assert m.args["city"].lower() in m.text.lower()
        assert ("country" in m.args) == (city.country.lower() in m.text.lower() and "country" in m.args)
        assert gazetteer.geocode(m.args["city"]) == city  # native names and misspellings resolve


_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n\n")  # an Onion headline stands on its own line
PLURAL_DESC = [d for d in weather.WMO.values() if d.endswith("s")]
SINGULAR_DESC = [d for d in weather.WMO.values() if not d.endswith("s")]
GRAMMAR = [
    ("there's/there is before a plural", re.compile(r"\bthere(?:'s| is) (?:" + "|".join(PLURAL_DESC) + r")\b", re.IGNORECASE)),
    ("there are before a singular", re.compile(r"\bthere are (?:" + "|".join(SINGULAR_DESC) + r")\b", re.IGNORECASE)),
    ("the sky shows skies", re.compile(r"\bsky\b[^.,:;!?\n]*\bskies\b", re.IGNORECASE)),
    ("plural subject, singular verb", re.compile(r"\b(skies|showers|thunderstorms|feet|forecasts|clouds|clothes) (is|was|has|isn't|looks|costs)\b")),
    ("singular subject, plural verb", re.compile(r"\b(anything|coat|drizzle|fog|snow|rain) (are|aren't|were|cost)\b")),
    ("a before a vowel-sounding number", re.compile(r"\ba (8|11|18)(\d|\b)")),
    ("empty slot", re.compile(r"\{\w*\}|\[|\]|  |\s[,.;:]")),
]


def _stem(word: str) -> str:
    """A crude stem: plans, planning and planned all give plan; traveller and travel give travel."""
    for suffix in ("ing", "ers", "er", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 3 and word[-1] == word[-2] else word


def test_answers_are_grammatical_by_each_known_kind_of_slip(full):
    for conv in full:
        for text in answers(conv):
            for kind, rx in GRAMMAR:
                assert not rx.search(text), f"{kind}: {conv['metadata']['id']}: {text}"
            for sentence in _SENTENCES.split(re.sub(r'"[^"]*"', "", text)):  # a quoted tool error is not our prose
                words = re.findall(r"[a-z]+", sentence.lower())
                stems = [_stem(w) for w in words]
                for i, (w, st) in enumerate(zip(words, stems, strict=True)):  # "planning sheltered plans": one stem twice
                    for v, sv in zip(words[i + 1:i + 4], stems[i + 1:i + 4], strict=True):
                        if len(w) >= 4 and st == sv and w != v:
                            raise AssertionError(f"repeated stem {w!r}/{v!r}: {conv['metadata']['id']}: {text}")


def _pools():
    """Every template pool the generator draws answer text from."""
    for p in PERSONAS.values():
        for pool in [p.yes, p.no, p.maybe, p.frames, p.apologies, p.greetings, p.farewells, p.asides, *p.lines.values()]:
            yield from pool
    for pool in voice.ADVICE.values():
        yield from pool
    yield from errors.UNKNOWN_CLAUSES
    yield from errors.UNKNOWN_OFFERS
    for tails in no_tool.KNOWLEDGE_TAILS.values():
        yield from tails


def test_templates_never_draw_the_same_choice_twice_nor_a_choice_and_its_negation():
    groups = re.compile(r"\[([^\[\]]*)\]")
    for template in _pools():
        found = groups.findall(template)
        assert len(found) == len(set(found)), f"a group drawn twice (slots that must agree): {template}"
        for g in found:
            options = [o.strip().lower() for o in g.split("|")]
            for o in options:
                for neg in (f"not {o}", o.replace(" could ", " couldn't "), o.replace("even ", "not even ")):
                    assert neg == o or neg not in options, f"an option and its negation in one group: {template}"
        assert not re.search(r"\d", template), f"a digit in a voice template: {template}"


def test_no_misattributed_quotes_in_the_voices():
    text = " ".join(_pools()).lower()
    for wrong in ("everybody talks about the weather", "by failing to prepare", "coldest winter i ever spent",
                  "climate is what we expect", "heaven for climate", "reports of", "wait a few minutes"):
        assert wrong not in text, wrong


def test_superlatives_agree_with_the_temperature_they_name(full):
    rules = {"hottest": lambda t: t >= 25, "least cold": lambda t: t < 12, "coldest": lambda t: t <= 12, "coolest": lambda t: t > 12,
             "mildest": lambda t: 8 <= t <= 22, "warmest": lambda t: t >= 12}
    checked = 0
    for conv in full:
        for text in answers(conv):
            for s in _SENTENCES.split(text):
                for word, ok in rules.items():
                    hit = re.search(rf"\b{word}\b", s, re.IGNORECASE)
                    if hit:
                        after, before = s[hit.end():], s[:hit.start()]
                        m = re.search(r"(-?\d+(?:\.\d+)?)°([CF])", after) or next(reversed(list(re.finditer(r"(-?\d+(?:\.\d+)?)°([CF])", before))), None)
                        if m:
                            t = float(m.group(1)) if m.group(2) == "C" else (float(m.group(1)) - 32) * 5 / 9
                            assert ok(round(t, 1)), f"{word} at {m.group(0)}: {s}"
                            checked += 1
    assert checked > 1000


# ----------------------------------------------------------------------------- the validation split


def test_validation_is_held_out_by_place_and_phrasing(full):
    train, val = gd.split(full)
    assert (len(train), len(val)) == (14400, 1600)
    ov = quality.overlap(train, val)
    assert ov["exact_user_turns"] == 0.0 and ov["user_shapes"] < 0.15, ov
    def places(convs):
        return {r["name"] for c in convs for r2 in results(c).values() for r in r2.get("results", [])}
    shared = places(train) & places(val)
    assert shared <= set(gazetteer.AMBIGUOUS), shared
    vc = gd.counts(val)
    assert vc["persona"] == {"twain": 704, "franklin": 248, "onion": 152, "neutral": 496}


def test_only_the_phrasing_part_of_snips_is_used(full):
    held = {snips._key(r["text"]) for r in snips.heldout()}
    assert all(not snips.is_heldout(t.text) or True for t in phrasing.snips_templates())
    sources = {snips._key(r["text"]) for r in snips.phrasing()}
    assert not held & sources
    turns = {snips._key(u) for c in full for u in users(c)}
    assert not turns & held
    # SNIPS phrasing really is used: a good share of user turns come from its templates
    skeletons = {re.sub(r"\{[pw]\}", "", t.text).lower().split()[0] for t in phrasing.snips_templates()}
    assert len(skeletons) > 20


def test_user_turns_are_varied_and_casual(full):
    stats = quality.user_turn_stats(full)
    assert stats["shapes"] > 8000 and stats["vocabulary"] > 500
    assert stats["lower_case"] > 0.25 and stats["accented"] > 200
    assert stats["conversations_by_user_turns"].get("4", 0) + stats["conversations_by_user_turns"].get("5", 0) > 500
    text = " ".join(u.lower() for c in full for u in users(c))
    for word in ("tonight", "this weekend", "saturday", "fahrenheit", "mph"):
        assert text.count(word) >= 20, word
    for word in ("münchen", "são paulo", "zürich", "bogotá"):
        assert text.count(word) >= 3, word


def test_no_persona_leans_on_one_phrase(full):
    top = quality.top_5grams(full)
    for persona, v in top.items():
        assert v["share"] < 0.02, (persona, v)


# ----------------------------------------------------------------------------- determinism, speed, files


def test_generate_is_fast_deterministic_and_keeps_the_mix_for_small_n():
    t0 = time.perf_counter()
    a = gd.generate(400, seed=7)
    assert time.perf_counter() - t0 < 4.0
    assert a == gd.generate(400, seed=7)
    assert a != gd.generate(400, seed=8)
    small = gd.generate(50)
    assert len(small) == 50
    assert Counter(c["tags"]["persona"] for c in small) == {"twain": 22, "neutral": 15, "franklin": 8, "onion": 5}
    assert len({c["tags"]["scenario"] for c in gd.generate(200)}) == len(gd.SCENARIOS)


def test_weather_is_plausible_for_latitude_hemisphere_and_season(full):
    month_temps: dict[tuple[str, int], list[float]] = defaultdict(list)
    for conv in full:
        for r in results(conv).values():
            if "current" in r:
                now = r["current"]
                t, code, month = now["temperature_2m"], now["weather_code"], int(now["time"][5:7])
                if code in (71, 73, 75, 85):
                    assert t <= 4.5, t
                if code == 95:
                    assert t >= 12.0, t
                if r["latitude"] > 55 and month in (12, 1, 2):
                    assert t < 12, t
                band = "north" if 35 <= r["latitude"] <= 60 else "south" if -45 <= r["latitude"] <= -30 else None
                if band:
                    month_temps[(band, month)].append(t)
            if "daily" in r:
                d = r["daily"]
                assert all(lo < hi for lo, hi in zip(d["temperature_2m_min"], d["temperature_2m_max"], strict=True))
    mean = lambda band, months: statistics.fmean(t for m in months for t in month_temps[(band, m)])  # noqa: E731
    assert mean("north", (6, 7, 8)) > mean("north", (12, 1, 2)) + 12
    assert mean("south", (12, 1, 2)) > mean("south", (6, 7, 8)) + 5


def test_calls_in_one_conversation_see_the_same_weather(full):
    checked = 0
    for conv in full:
        by_place = defaultdict(list)
        for r in results(conv).values():
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
                        assert d["temperature_2m_min"][0] <= r["current"]["temperature_2m"] <= d["temperature_2m_max"][0]
                        checked += 1
    assert checked > 300


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
    assert meta["n_total"] == 300 and meta["files"][gd.VALIDATION_FILE]["lines"] == 28
    assert meta["tokens"]["conversations"] == 300 and set(meta["tokens"]["over_max_seq_length"]) == {"cpu", "m4", "h100"}
    assert meta["tokens"]["per_epoch"]["processed"] > meta["tokens"]["per_epoch"]["loss_carrying"] > 0


@pytest.mark.skipif(not (DATA / gd.METADATA_FILE).is_file(), reason="data not generated yet (make data)")
def test_committed_files_are_what_the_generator_writes(tmp_path):
    meta = json.loads((DATA / gd.METADATA_FILE).read_text(encoding="utf-8"))
    fresh = gd.write_dataset(tmp_path, meta["n_total"], meta["seed"], with_tokens=False)
    for name in (gd.TRAIN_FILE, gd.VALIDATION_FILE):
        assert fresh["files"][name]["sha256"] == meta["files"][name]["sha256"] == gd.sha256(DATA / name), name
    for key in ("counts", "splits", "humour_ratio", "quality", "generator_version"):
        assert fresh[key] == meta[key], key
    assert meta["tokens"]["conversations"] == 16000
    assert meta["tokens"]["mean"] < gd.BEFORE["tokens"]["mean"]


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


def test_each_place_reports_the_moment_on_its_own_clock(full):
    """One instant per conversation, on each place's wall clock (Open-Meteo's timezone=auto), in 15-minute steps:
    before, Ottawa and Kigali both read 07:00 in every conversation that held both."""
    pairs = same_hour = 0
    minutes = set()
    for conv in full:
        reads = [(r["longitude"], r["current"]["time"]) for r in results(conv).values() if "current" in r]
        minutes |= {t[14:16] for _, t in reads}
        for i, (lon_a, t_a) in enumerate(reads):
            for lon_b, t_b in reads[i + 1:]:
                if abs(lon_a - lon_b) >= 45:
                    pairs += 1
                    same_hour += t_a[11:13] == t_b[11:13]
    assert pairs > 500 and same_hour / pairs < 0.05, (pairs, same_hour)
    assert minutes == {"00", "15", "30", "45"}


def test_no_sun_advice_after_dark(full):
    """A current reading at night on the place's own clock gets no sunscreen, sunglasses or shade advice."""
    night = 0
    for conv in full:
        msgs = conv["messages"]
        readings = [(k, json.loads(m["content"])) for k, m in enumerate(msgs) if m["role"] == "tool" and '"current"' in m["content"]]
        if len(readings) != 1:
            continue  # comparisons take their mood from all places
        k, reading = readings[0]
        hour = int(reading["current"]["time"][11:13])
        if hour >= 6 and hour < 20:
            continue
        night += 1
        answer = next(m["content"] for m in msgs[k + 1:] if m["role"] == "assistant" and m.get("content"))
        assert not re.search(r"sunscreen|sunglasses|seek shade|midday sun", answer, re.I), (conv["metadata"]["id"], answer)
    assert night > 500
