"""The real-phrasing scorer by hand: place matching, reading times, expectations, metrics; and the held-out
split it reads (the generator's phrasing never includes a scored question)."""

import datetime as dt

import pytest

from tasks.data import snips
from tasks.serve import evaluate as ev
from tasks.serve import real_questions as rq

TODAY = dt.date(2026, 12, 1)


def test_normalize_is_case_accent_and_punctuation_blind():
    assert rq.normalize("  São Paulo, ") == "sao paulo"
    assert rq.normalize("Morgan–Monroe State Forest") == "morgan monroe state forest"
    assert rq.normalize("ST. LOUIS") == "st louis"


@pytest.mark.parametrize("place, arguments, named", [
    ("Princeton Junction", {"city": "princeton junction"}, True),
    ("Haigler", {"city": "Haigler", "country": "Bosnia and Herzegovina"}, True),
    ("Haigler", {"city": "Haigler, Bosnia and Herzegovina"}, True),  # one string with the country: still the place
    ("Dochū-Kōtsu Prefectural Park", {"city": "Dochu Kotsu Prefectural Park"}, True),
    ("Paris", {"city": "Parisville"}, False),  # whole words only
    ("York", {"city": "New Yorkshire"}, False),
    ("Lima", {"city": "Lime"}, False),
    ("GA", {"latitude": 33.7, "longitude": -84.4}, False),  # numbers name no place
    ("", {"city": ""}, False),
])
def test_place_named(place, arguments, named):
    assert rq.place_named(place, arguments) is named


@pytest.mark.parametrize("text, answerable", [
    ("now", True), ("tonight", True), ("11:47:52", True), ("brunch", True), ("fri.", True), ("next sat.", True),
    ("this week-end", True), ("next week", True), ("in one hour and 2 minutes", True), ("2 days from now", True),
    ("sixteen hours from now", True), ("December 8th, 2026", True),  # 7 days ahead of TODAY
    ("next 10 days", True), ("in fourteen days", True),
    ("last may", False), ("yesterday", False), ("three days ago", False),
    ("aug. 17th, 2020", False), ("12/13/2025", False), ("september twenty-first, 2025", False),  # past dates
    ("5/17/2037", False), ("in five years", False), ("next year", False), ("this year", False), ("next month", False),
    ("this Fall", False), ("next autumn", False), ("next may", False),
    ("seven weeks from now", False), ("in 48 and a half weeks", False), ("one hundred thirty five days from now", False),
    ("in two hundred thirteen days", False), ("in fifteen days", False), ("over 3 weeks", False),
    ("April the twelfth", False), ("feb. 17", False),  # no year: the next April 12 / Feb 17 is months away
    ("christmas day", False), ("san jacinto day", False),
])
def test_time_answerable(text, answerable):
    ok, why = rq.time_answerable(text, TODAY)
    assert ok is answerable, why


def test_dates_without_a_year_are_their_next_occurrence():
    assert rq.time_answerable("december the 10th", TODAY) == (True, "2026-12-10: 9 days ahead")
    assert rq.time_answerable("december the 10th", dt.date(2026, 12, 20))[0] is False  # next one is a year away
    assert rq.time_answerable("christmas", dt.date(2026, 12, 20)) == (True, "christmas: 5 days ahead")


def _row(text, **slots):
    return {"text": text, "slots": [{"entity": e, "text": t} for e, t in slots.items()]}


def test_expectation_from_slots():
    assert rq.expectation(_row("how cold is it in Princeton Junction", city="Princeton Junction"), TODAY) == \
        {"kind": "call", "place": "Princeton Junction"}
    # The city is the place to geocode even when a state or country follows it.
    assert rq.expectation(_row("wind in Tiplersville, South Sudan?", country="South Sudan", city="Tiplersville"), TODAY)["place"] == "Tiplersville"
    assert rq.expectation(_row("snow at Blanco State Park", geographic_poi="Blanco State Park"), TODAY)["place"] == "Blanco State Park"
    assert rq.expectation(_row("whats the weather in GA", state="GA"), TODAY) == {"kind": "call", "place": "GA"}
    e = rq.expectation(_row("rain at my current location?", current_location="current location"), TODAY)
    assert e == {"kind": "abstain", "why": "no place named (current location)"}
    assert rq.expectation(_row("will it rain at 5 pm", timeRange="5 pm"), TODAY)["kind"] == "abstain"
    e = rq.expectation(_row("weather in Oregon this year", state="Oregon", timeRange="this year"), TODAY)
    assert e["kind"] == "abstain" and "this year" in e["why"]


def _parsed(text):
    return ev.parse_output(text)


def test_judge_and_score_by_hand():
    call = {"kind": "call", "place": "Beroun"}
    abstain = {"kind": "abstain", "why": "no place named"}
    geocode = ' [TOOL_CALLS] [{"name": "geocode_location", "arguments": {"city": "beroun"}, "id": "a"}]'
    cases = [
        {"expected": call, "parsed": _parsed(geocode)},  # right
        {"expected": call, "parsed": _parsed(geocode.replace("beroun", "Prague"))},  # wrong place
        {"expected": call, "parsed": _parsed(' [TOOL_CALLS] [{"name": "get_forecast", "arguments": {"city": "Beroun"}}]')},  # wrong tool
        {"expected": call, "parsed": _parsed(" [TOOL_CALLS] [{broken")},  # not JSON
        {"expected": call, "parsed": _parsed(" Where is Beroun?")},  # no call
        {"expected": abstain, "parsed": _parsed(" Which city?")},  # right: asks
        {"expected": abstain, "parsed": _parsed(geocode)},  # wrong: calls anyway
    ]
    assert [rq.judge(c["expected"], c["parsed"]) for c in cases] == [True, False, False, False, False, True, False]
    s = rq.score(cases)
    assert s["real_place_acc"] == 0.2  # 1 of 5
    assert s["real_abstain_acc"] == 0.5  # 1 of 2
    assert s["real_accuracy"] == round(2 / 7, 4)
    assert s["real_json_valid_rate"] == 0.8  # 4 of the 5 emitted calls parse
    assert (s["real_call_questions"], s["real_abstain_questions"], s["real_calls_emitted"]) == (5, 2, 5)
    assert rq.score([])["real_accuracy"] is None


def test_scored_questions_are_the_held_out_ones():
    qs = rq.questions(None, TODAY)
    held = snips.heldout()
    assert [q["text"] for q in qs] == [r["text"] for r in held] and len(qs) == 342
    phrasing = {r["text"] for r in snips.phrasing()}
    assert not phrasing & {q["text"] for q in qs}
    assert {q["persona"] for q in qs} == {"twain", "franklin", "onion", "neutral"}
    kinds = [q["expected"]["kind"] for q in qs]
    # Most real questions name a place at an answerable time; a real share does not.
    assert kinds.count("call") > 200 and kinds.count("abstain") > 60
