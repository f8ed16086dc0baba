"""End-to-end scoring (tasks/serve/e2e.py): the scorers on hand-written answers, on the generated data's own answers
(which they must pass), the persona classifier's held-out accuracy, and a whole run with scripted engines."""

import json
from pathlib import Path

from tasks.serve import chat, e2e, real_questions
from tests.helpers_smol import TRAIN, VALIDATION

RESULT = {"latitude": 38.72, "longitude": -9.13, "daily_units": {"temperature_2m_max": "°C", "wind_speed_10m_max": "km/h"},
          "daily": {"time": ["2026-12-01", "2026-12-02"], "temperature_2m_max": [16.4, 15.1], "wind_speed_10m_max": [24.1, 30.0],
                    "precipitation_probability_max": [84, 90]}}


def test_numbers_are_traced_with_conversions_and_rounding():
    allowed = e2e.allowed_numbers([RESULT, "Will it rain in Lisbon tomorrow?"])
    assert e2e.grounded("Highs of 16.4°C and 15.1°C, a 90% chance of rain on 2 December.", allowed)[0]
    assert e2e.grounded("About 61.5°F and 16 degrees, wind near 15 mph.", allowed)[0]  # 16.4 °C = 61.5 °F; 24.1 km/h = 15 mph
    ok, missing = e2e.grounded("Highs of 19.2°C with 40% chance of rain.", allowed)
    assert not ok and missing == [19.2, 40.0]  # invented numbers are caught
    assert e2e.numbers_in("-3.5 °C at 14:45 on 2026-12-01") == [-3.5, 14, 45, 2026, 12, 1]


def test_first_sentence_must_answer():
    q = "Will it rain in Lisbon tomorrow?"
    assert e2e.answers_first(q, "Yes: rain showers tomorrow, 90% likely. Take an umbrella.")
    assert not e2e.answers_first(q, "Lisbon is a lovely city on the Tagus. Yes, it will rain.")  # the verdict comes too late
    assert e2e.answers_first("What's the weather in Oslo?", "Oslo has light snow and -2.0°C right now.")
    assert not e2e.answers_first("What's the weather in Oslo?", "Let me tell you a story about Oslo.")
    assert e2e.first_sentence("Weather Desk Baffled\n\nNo rain at 7.9 mm. Later.") == "No rain at 7.9 mm."  # the headline is skipped
    assert e2e.answers_first(q, "Sorry, the forecast service timed out.", failed=True)


def test_the_generated_answers_pass_the_scorers():
    """The scorers must accept what training teaches: every reference answer after tools is grounded, and nearly
    every one answers in its first sentence (the rest: clarifications of a shared place name, weak openings)."""
    grounded = first = n = 0
    with open(VALIDATION, encoding="utf-8") as fh:
        for line in list(fh)[:400]:
            ex = json.loads(line)
            msgs = ex["messages"]
            u = next(i for i, m in enumerate(msgs) if m["role"] == "user")
            end = next((i for i in range(u + 1, len(msgs)) if msgs[i]["role"] == "user"), len(msgs))
            texts = [m["content"] for m in msgs[u + 1:end] if m["role"] == "assistant" and not m.get("tool_calls")]
            results = [json.loads(m["content"]) for m in msgs[u + 1:end] if m["role"] == "tool"]
            calls = [tc["function"] for m in msgs[u + 1:end] if m["role"] == "assistant" for tc in m.get("tool_calls") or []]
            if not (texts and results):
                continue
            outcome = {"answer": texts[-1], "called": True, "calls": calls, "results": results, "error": None}
            v = e2e.judge({"abstain": False, "question": msgs[u]["content"], "messages": msgs, "persona": None}, outcome, None, "2026-12-03")
            n, grounded, first = n + 1, grounded + v["grounded"], first + v["first_sentence"]
    assert n > 100 and grounded == n and first / n >= 0.9


def test_persona_classifier_tells_the_voices_apart():
    classifier, acc, tested = e2e.train_classifier(TRAIN, VALIDATION, limit=3000)
    assert tested >= 500 and acc >= 0.85
    assert classifier.predict("Yes: rain showers tomorrow, 90% likely.") in classifier.labels


def _scripted(*texts):
    replies = iter(texts)
    return lambda messages: chat.assistant_message(next(replies))


def test_a_whole_run_scores_calls_answers_and_abstentions(tmp_path):
    val = [json.loads(line) for line in open(VALIDATION, encoding="utf-8")]
    weather = next(ex for ex in val if e2e.kind_of(ex) == "geocode_then_weather/now")
    missing = next(ex for ex in val if e2e.kind_of(ex) == "no_tool/missing_place")
    assert e2e.expects_abstention(missing) and not e2e.expects_abstention(weather)
    calls = [m for m in weather["messages"] if m.get("tool_calls")]
    as_text = [" [TOOL_CALLS] " + json.dumps([{"name": tc["function"]["name"], "arguments": json.loads(tc["function"]["arguments"]), "id": "abcdefghi"}
                                              for tc in m["tool_calls"]]) for m in calls]
    final = next(m["content"] for m in reversed(weather["messages"]) if m["role"] == "assistant")
    todo = e2e.cases([weather, missing], [])
    good = iter([*as_text, " " + final, " Which town do you mean?"])
    bad = iter([" It is 45°C and sunny.", as_text[0], as_text[0], as_text[0], as_text[0]])
    engines = {"base": lambda m: chat.assistant_message(next(bad)), "adapter": lambda m: chat.assistant_message(next(good))}
    classifier, _, _ = e2e.train_classifier(TRAIN, VALIDATION, limit=2000)
    result = e2e.run(engines, todo, classifier, time_budget_s=60, today="2026-12-03")
    ad, base = result["scores"]["adapter"], result["scores"]["base"]
    # The adapter replays the reference: grounded, answered first, completed, abstains where it should.
    assert ad["e2e_completed_rate"] == 1.0 and ad["e2e_grounded_rate"] == 1.0 and ad["e2e_abstain_acc"] == 1.0
    assert ad["e2e_answered_after_tools"] == 1 and ad["e2e_abstain_questions"] == 1
    # The base answered without tools (nothing to ground against), then looped on a call where it should abstain.
    assert base["e2e_grounded_rate"] is None and base["e2e_abstain_acc"] == 0.0 and base["e2e_completed_rate"] == 0.5
    assert e2e.agreement(result["verdicts"]["adapter"], result["verdicts"]["adapter"]) == 1.0


def test_real_questions_get_recorded_or_gazetteer_results():
    assert e2e.real_tools("geocode_location", {"city": "Lisbon"})["results"][0]["country_code"] == "PT"  # the recording
    assert e2e.real_tools("geocode_location", {"city": "Oslo"})["results"][0]["country"] == "Norway"  # the gazetteer
    got = e2e.real_tools("get_forecast", {"latitude": 59.91, "longitude": 10.75, "days": 2})
    assert got["latitude"] == 59.91 and len(got["daily"]["time"]) == 2
    qs = real_questions.questions(6, __import__("datetime").date(2026, 12, 3))
    todo = e2e.cases([], qs)
    assert len(todo) == 6 and all(c["messages"][0]["role"] == "system" for c in todo)
    assert Path(e2e.RECORDINGS).is_dir()
