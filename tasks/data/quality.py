"""Measure what the generated data teaches, read from the data alone (not from the generator's choices).

    python -m tasks.data.quality --data data/synthetic/final_train.jsonl data/synthetic/final_validation.jsonl

- user turns: distinct shapes (places, numbers and dates masked) and the lower-case vocabulary;
- answers that address their question: a yes/no weather question gets a verdict in the first
  sentence; a question about wind, rain, humidity or temperature names it there; a day the user
  names (tomorrow, tonight, Saturday, this weekend) is named there; °F or mph when asked for;
- the most frequent 5-word phrase of each persona's answers, and its share of them;
- geocode arguments that match the user's words (the city as typed, a country only when typed);
- validation overlap: validation user turns (and shapes) that also occur in training.

`make data` (tasks.data.generate) writes these into merge_metadata.json and refuses data whose
answers miss their questions; the data tests assert them. With --data it reads JSONL files (the
first is taken as training, a second as validation) and prints the same figures.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from tasks import ui
from tasks.data import gazetteer

TAG = "DATA"

YESNO = re.compile(r"^\s*(is|will|should|does|do|can|could|would|are|am|gonna|any|tell me if|i want to know if|"
                   r"let me know if)\b", re.IGNORECASE)
FOCUS = {
    "rain": re.compile(r"\b(rain\w*|umbrella|brolly|wet|showers?|drizzle)\b", re.IGNORECASE),
    "wind": re.compile(r"\b(wind|winds|windy|windier|breezy|gale|gales|gusts?|gusty)\b", re.IGNORECASE),
    "humid": re.compile(r"\b(humid\w*|muggy)\b", re.IGNORECASE),
    "snow": re.compile(r"\b(snow\w*|blizzard|sleet)\b", re.IGNORECASE),
    "temp": re.compile(r"\b(hot|hotter|cold|colder|warm|warmer|chilly|chillier|freezing|coat|gloves|temperature|temp|mild|"
                       r"temperate|scorching|shorts)\b", re.IGNORECASE),
}
# what an answer's first sentence must contain for each focus
NAMES = {
    "rain": re.compile(r"\b(rain\w*|dry|drizzle|showers?|thunderstorms?|snow|wet|umbrella)\b", re.IGNORECASE),
    "wind": re.compile(r"\bwind\w*\b", re.IGNORECASE),
    "humid": re.compile(r"\bhumid\w*\b", re.IGNORECASE),
    "snow": re.compile(r"\bsnow\w*\b", re.IGNORECASE),
    "temp": re.compile(r"°[CF]"),
}
VERDICT = re.compile(r"\b(yes|no|not|nope|maybe|possibly|perhaps|partly|somewhat|a little|afraid so|coin toss|indeed|"
                     r"can't say|about the same|nothing of the kind|it is so)\b", re.IGNORECASE)
DAYS = ["tomorrow", "tonight", "weekend", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_DAY_WORDS = {"tmrw": "tomorrow", "tomorow": "tomorrow"}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_NUMBER = re.compile(r"-?\d+(?:[.:]\d+)*")
_WORD = re.compile(r"[a-z']+")


def _trie_pattern(words: set[str]) -> str:
    """One regex for many names, as a trie of their letters: Python's `re` tries the alternatives of a
    flat `a|b|c` one by one at every position, which is slow for a thousand place names."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w.lower():
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        ends = "" in node
        branches = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return build(trie)


@lru_cache(maxsize=1)
def _places() -> re.Pattern:
    names = {c.name for c in gazetteer.CITIES} | {c.country for c in gazetteer.CITIES} | set(gazetteer.UNKNOWN_PLACES)
    names |= set(gazetteer.ALIASES) | {c.admin1 for cs in gazetteer.HOMONYMS.values() for c in cs if c.admin1}
    names |= {a + b for a in gazetteer._SYLLABLES_A for b in gazetteer._SYLLABLES_B}
    # state abbreviations only after a comma and in capitals ("Portland, OR"): "or" and "me" are words
    return re.compile(r"(?i:\b(" + _trie_pattern(names) + r")\b)|(?<=, )(OR|ME|CA)\b")


@lru_cache(maxsize=None)
def shape(text: str) -> str:
    """A user turn with its place names as @ and its numbers as #, lower case, spaces normalised."""
    return " ".join(_NUMBER.sub("#", _places().sub("@", text)).lower().split())


@lru_cache(maxsize=None)
def focus_of(text: str) -> tuple[str, ...]:
    """What a user turn asks about (wind, rain, ...), read with its place names masked (Windhoek is no wind)."""
    masked = _places().sub("@", text)
    return tuple(f for f, rx in FOCUS.items() if rx.search(masked))


def lead(answer: str) -> str:
    """The first sentence of an answer (after an Onion-style headline, which stands on its own line)."""
    body = answer.split("\n\n", 1)[1] if "\n\n" in answer else answer
    body = re.sub(r"\b(St|Mt)\. ", "\\1\u00a0", body.strip())  # St. Louis is not a sentence end
    return _SENTENCE.split(body, 1)[0].replace("\u00a0", ". ")


def turns(conv: dict) -> list[tuple[str, list[dict], str | None]]:
    """(user text, tool results of its turn, final answer text) for every user turn."""
    out = []
    for m in conv["messages"]:
        if m["role"] == "user":
            out.append([m["content"], [], None])
        elif out and m["role"] == "tool":
            out[-1][1].append(json.loads(m["content"]))
        elif out and m["role"] == "assistant" and m.get("content"):
            out[-1][2] = m["content"]
    return [tuple(t) for t in out]


def _weather_result(results: list[dict]) -> bool:
    return any("current" in r or "daily" in r for r in results)


def address_problems(conv: dict) -> list[str]:
    """Why an answer misses its question (empty when every weather answer addresses its question)."""
    problems = []
    for text, results, answer in turns(conv):
        if answer is None or not _weather_result(results) or " or " in text.lower():
            continue  # errors, clarifications and choices between places are checked elsewhere
        first = lead(answer)
        low = text.lower()
        foci = focus_of(text)
        if YESNO.match(text) and foci and not VERDICT.search(first):
            problems.append(f"yes/no question without a verdict: {text!r} -> {first!r}")
        for f in foci:
            if not NAMES[f].search(first):
                problems.append(f"{f} question whose first sentence does not name it: {text!r} -> {first!r}")
        for word, day in list(_DAY_WORDS.items()) + [(d, d) for d in DAYS]:
            if re.search(rf"\b{word}\b", low) and day not in first.lower():
                problems.append(f"asked about {day}, first sentence does not say it: {text!r} -> {first!r}")
                break
        if re.search(r"fahrenheit|°f|\bin f\b|degrees f|\bf please", low) and "°C" in answer and "°F" not in answer:
            problems.append(f"asked for °F, answered in °C: {text!r}")
        if re.search(r"\bmph\b|miles per hour", low) and "km/h" in answer and "mph" not in answer:
            problems.append(f"asked for mph, answered in km/h: {text!r}")
    return problems


def _verdict_shares(conversations: list[dict]) -> dict:
    yesno = with_verdict = 0
    named = Counter()
    asked = Counter()
    for conv in conversations:
        for text, results, answer in turns(conv):
            if answer is None or not _weather_result(results):
                continue
            foci = focus_of(text)
            if YESNO.match(text) and foci and " or " not in text.lower():
                yesno += 1
                with_verdict += bool(VERDICT.search(lead(answer)))
            for f in ("wind", "rain"):
                if f in foci:
                    asked[f] += 1
                    named[f] += bool(NAMES[f].search(answer))
    return {"yesno_questions": yesno, "yesno_with_verdict": round(with_verdict / max(yesno, 1), 4),
            "wind_questions": asked["wind"], "wind_answer_names_wind": round(named["wind"] / max(asked["wind"], 1), 4),
            "rain_questions": asked["rain"], "rain_answer_names_rain": round(named["rain"] / max(asked["rain"], 1), 4)}


def top_5grams(conversations: list[dict]) -> dict:
    """Per persona: the 5-word phrase found in the most answers, and the share of answers holding it
    (numbers masked, so "17.3°C and" and "2.0°C and" count as one phrase)."""
    by_persona: dict[str, Counter] = {}
    answers = Counter()
    for conv in conversations:
        p = conv["tags"]["persona"]
        grams = by_persona.setdefault(p, Counter())
        for m in conv["messages"]:
            if m["role"] == "assistant" and m.get("content"):
                words = _WORD.findall(_NUMBER.sub("#", m["content"]).lower())
                grams.update({" ".join(words[i:i + 5]) for i in range(len(words) - 4)})
                answers[p] += 1
    out = {}
    for p, grams in sorted(by_persona.items()):
        phrase, n = max(grams.items(), key=lambda kv: (kv[1], kv[0])) if grams else ("", 0)  # ties by text: same bytes every run
        out[p] = {"phrase": phrase, "answers": answers[p], "share": round(n / max(answers[p], 1), 4)}
    return out


def geocode_match(conversations: list[dict]) -> dict:
    """Geocode calls whose city is written in a user turn so far and whose country is given exactly
    when the user wrote one beside the city."""
    total = ok = 0
    failures = []
    for conv in conversations:
        said = ""
        for m in conv["messages"]:
            if m["role"] == "user":
                said += "\n" + m["content"].lower()
            for tc in m.get("tool_calls") or []:
                if tc["function"]["name"] != "geocode_location":
                    continue
                args = json.loads(tc["function"]["arguments"])
                total += 1
                city = args["city"].lower()
                good = city in said
                city_obj = gazetteer.geocode(args["city"])
                countries = {c.country.lower() for c in gazetteer.HOMONYMS.get(city_obj.name, [city_obj])} if city_obj else set()
                typed = {c for c in countries if re.search(re.escape(city) + r"(,| in| ,)\s*" + re.escape(c), said)}
                if "country" in args:
                    good = good and args["country"].lower() in typed
                elif typed:
                    good = False
                ok += good
                if not good and len(failures) < 20:
                    failures.append(f"{conv['metadata']['id']}: {args} for {said.strip()!r}")
    return {"calls": total, "share": round(ok / max(total, 1), 4), "failures": failures}


def user_turn_stats(conversations: list[dict]) -> dict:
    texts = [m["content"] for c in conversations for m in c["messages"] if m["role"] == "user"]
    shapes = Counter(shape(t) for t in texts)
    covered, half_at = 0, 0
    for k, (_, n) in enumerate(shapes.most_common(), 1):
        covered += n
        if covered * 2 >= len(texts):
            half_at = k
            break
    vocab = {w for t in set(texts) for w in _WORD.findall(_places().sub(" ", t).lower())}
    users_per_conv = Counter(sum(m["role"] == "user" for m in c["messages"]) for c in conversations)
    coords = sum(bool(re.search(r"-?\d+\.\d+\s*,\s*-?\d+\.\d+", t)) for t in texts)
    return {"turns": len(texts), "shapes": len(shapes), "shapes_covering_half": half_at, "vocabulary": len(vocab),
            "with_coordinates": round(coords / max(len(texts), 1), 4),
            "conversations_by_user_turns": {str(k): v for k, v in sorted(users_per_conv.items())},
            "lower_case": round(sum(t == t.lower() for t in texts) / max(len(texts), 1), 4),
            "accented": sum(bool(re.search(r"[À-ÿ]", t)) for t in texts)}


def overlap(train: list[dict], val: list[dict]) -> dict:
    tr = [m["content"] for c in train for m in c["messages"] if m["role"] == "user"]
    va = [m["content"] for c in val for m in c["messages"] if m["role"] == "user"]
    exact = {t.strip().lower() for t in tr}
    shapes = {shape(t) for t in tr}
    return {"validation_user_turns": len(va),
            "exact_user_turns": round(sum(t.strip().lower() in exact for t in va) / max(len(va), 1), 4),
            "user_shapes": round(sum(shape(t) in shapes for t in va) / max(len(va), 1), 4)}


def measure(conversations: list[dict], train: list[dict], val: list[dict]) -> dict:
    failures = [f"{c['metadata']['id']}: {p}" for c in conversations for p in address_problems(c)]
    geo = geocode_match(conversations)
    return {
        "user_turns": user_turn_stats(conversations),
        "answers_address_questions": _verdict_shares(conversations) | {"failures": failures[:20], "failure_count": len(failures)},
        "top_5gram_per_persona": top_5grams(conversations),
        "geocode_arguments_match_user": geo["share"],
        "geocode_calls": geo["calls"],
        "validation_overlap": overlap(train, val),
    }


def _read(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as e:
        raise ui.Fail(f"{path}: cannot read ({e}); run `make data` or pass JSONL files") from e


def run(paths: list[Path]) -> None:
    train = _read(paths[0])
    val = _read(paths[1]) if len(paths) > 1 else []
    for c in train + val:
        c.setdefault("metadata", {}).setdefault("id", "?")
    print(json.dumps(measure(train + val, train, val), indent=2, ensure_ascii=False))
    ui.success(f"measured {len(train) + len(val)} conversations")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="training JSONL, then optionally validation JSONL")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.data)


if __name__ == "__main__":
    raise SystemExit(main())
