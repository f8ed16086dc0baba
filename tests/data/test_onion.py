"""The Onion's weather answers on the whole 16,000-line set: several forms (witness, brief, correction,
poll, quote-led), each common; a cast large enough that no invented name recurs; the answering sentence
right after the headline in every form; mean wind never called gusts; no sun after dark; and no voice
sentence (headline, quote, tag, notice) leaned on."""

from __future__ import annotations

import re
import sys
from collections import Counter

import pytest

from tasks.data import generate as gd
from tasks.data import quality
from tasks.data.convo import onion

_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n\n")


def form_of(answer: str) -> str:
    """The form of an Onion weather answer, read from its text alone."""
    head, body = answer.split("\n\n", 1)
    if head.startswith("\u201c"):
        return "quote"
    if re.match(r"(Poll|Reader Poll|Quick Poll|Survey|Snap Poll): ", head):
        return "poll"
    if any(f" {label} " in f" {body}" for label in onion.ONION_NOTICES):
        return "correction"
    if "\u201c" in body:
        return "witness"
    return "brief"


@pytest.fixture(scope="module")
def recorded() -> dict:
    """generate(16000) with every onion_answer call recorded: (place, mood, parts, answer)."""
    original = onion.onion_answer
    calls = []

    def record(rng, place, mood, parts):
        out = original(rng, place, mood, parts)
        calls.append((place, mood, list(parts), out))
        return out

    patched = [m for name, m in list(sys.modules.items()) if name.startswith("tasks.data") and getattr(m, "onion_answer", None) is original]
    for m in patched:
        m.onion_answer = record
    try:
        convs = gd.generate(gd.N_TOTAL, gd.SEED)
    finally:
        for m in patched:
            m.onion_answer = original
    kept = {a for c in convs if c["tags"]["persona"] == "onion" for m in c["messages"] if m["role"] == "assistant" and (a := m.get("content"))}
    return {"calls": [c for c in calls if c[3] in kept], "convs": convs}


def test_every_onion_answer_keeps_the_headline_then_answer_shape(recorded):
    calls = recorded["calls"]
    assert len(calls) > 1000
    for _place, _mood, parts, answer in calls:
        head, body = answer.split("\n\n", 1)
        assert head and "\n" not in head and not re.search(r"\d", head), answer
        assert body.startswith(parts[0]), answer  # the answering sentence comes first in every form
        assert quality.lead(answer) == quality.lead(parts[0]), answer
        added = body[len(" ".join(parts)):]
        assert body.startswith(" ".join(parts)), answer
        assert not re.search(r"\d", added), answer  # every number is a tool figure
        assert not re.search(r"  | ,|\s[.;:]|\[|\]|\{|\}|\n|\"", added), answer
        assert not added or re.search(r"[.!?]\u201d?$", added), answer
        assert not re.search(r"%|per ?cent|computer|outage|fail|server|broken|machine|tool", added, re.IGNORECASE), answer


def test_the_lead_still_answers(recorded):
    """Where the question is a yes/no question, the first sentence after the headline holds the verdict;
    where it asks the temperature, a figure."""
    onion_answers = {a for *_, a in recorded["calls"]}
    checked = 0
    for conv in recorded["convs"]:
        if conv["tags"]["persona"] != "onion":
            continue
        for text, _results, answer in quality.turns(conv):
            if answer not in onion_answers:
                continue
            first = quality.lead(answer)
            if quality.YESNO.match(text) and quality.focus_of(text) and " or " not in text.lower():
                assert quality.VERDICT.search(first), (text, answer)
                checked += 1
            elif "temperature" in quality.focus_of(text):
                assert re.search(r"\d°[CF]", first), (text, answer)
                checked += 1
    assert checked > 200


def test_the_forms_are_all_common(recorded):
    forms = Counter(form_of(a) for *_, a in recorded["calls"])
    n = sum(forms.values())
    assert set(forms) == {"witness", "brief", "correction", "poll", "quote"}, forms
    for form, k in forms.items():
        assert k / n >= 0.08, (form, forms)
    polls = [a for *_, a in recorded["calls"] if form_of(a) == "poll"]
    assert all(a.count("\u201c") == 3 for a in polls)


def test_no_invented_name_recurs(recorded):
    answers = [a for *_, a in recorded["calls"]]
    assert len(onion.ONION_FIRST) >= 100 and len(onion.ONION_LAST) >= 100
    assert len(set(onion.ONION_FIRST)) == len(onion.ONION_FIRST) and len(set(onion.ONION_LAST)) == len(onion.ONION_LAST)
    for names in (onion.ONION_FIRST, onion.ONION_LAST):
        counts = Counter()
        for a in answers:
            counts.update({n for n in names if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", a)})
        top, k = counts.most_common(1)[0]
        assert k / len(answers) <= 0.01, (top, k, len(answers))


def test_mean_wind_is_never_gusts_and_night_has_no_sun(recorded):
    for _place, mood, parts, answer in recorded["calls"]:
        assert not re.search(r"\bgust", answer, re.IGNORECASE), answer
        added = answer.replace(" ".join(parts), "")
        if mood == "night":
            assert not re.search(r"\bsun(?:ny|shine|screen|glasses|light|burn|\b)|picnic|shade", added, re.IGNORECASE), answer


def test_no_voice_sentence_is_leaned_on(recorded):
    """A sentence the Onion adds (no figure in it, places masked) is in at most 0.5% of its weather answers."""
    calls = recorded["calls"]
    bag = Counter()
    for _place, _mood, parts, answer in calls:
        facts = {quality.shape(s) for p in parts for s in _SENTENCES.split(p)}
        bag.update({quality.shape(s) for s in _SENTENCES.split(answer) if s and not re.search(r"\d", s)} - facts)
    top, k = bag.most_common(1)[0]
    assert k / len(calls) <= 0.005, (top, k, len(calls))


def test_the_old_entry_points_still_work():
    import random

    rng = random.Random(5)
    for mood in onion.MOODS + ("unknown",):
        head = onion.onion_headline(rng, "Oslo", mood)
        assert head and not re.search(r"\d|\n|gust", head, re.IGNORECASE)
        assert onion.onion_witness(rng, mood).endswith((".", ".\u201d"))
        answer = onion.onion_answer(rng, "your area", mood, ["It is 3.0°C in your area.", "Wind is 12.0 km/h."])
        assert answer.split("\n\n", 1)[1].startswith("It is 3.0°C in your area.")
    assert onion.onion_answer(random.Random(1), "Oslo", "wet", ["A."]) == onion.onion_answer(random.Random(1), "Oslo", "wet", ["A."])
