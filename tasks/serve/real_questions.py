"""Score first tool calls on real people's weather questions (held-out SNIPS), base against adapter.

    python -m tasks.serve.real_questions                       # what each held-out question expects, and counts
    python -m tasks.serve.real_questions --today 2026-12-01    # the same against a fixed date
    make eval   (scores the model on them beside the generated validation set)

The questions are `tasks.data.snips.heldout()`: crowd-written phrasing that the data generator
never uses. Each one expects one of two first moves, read from its slots:

- **call**: a place is named (slot city, geographic_poi, state or country, in that order of
  preference) and the time is answerable: the model's first output must be a valid
  ` [TOOL_CALLS] [...]` whose first call is `geocode_location` with the place in its arguments
  (compared case-, accent- and punctuation-blind, as whole words);
- **abstain**: no place (only `current_location`, or no place slot), or a time no forecast can
  answer (a past date or `last ...`, more than 14 days ahead, a season, month or year): the model
  must not call a tool (it should ask where, or decline).

Times are read against a reference date (today unless given): dates without a year are their next
occurrence; spelled numbers ("one hundred thirty five days") and ordinals ("the twenty-first")
count. Questions whose time cannot be read at all (a meal, a clock time, a weekday) count as
answerable. Metrics: `real_place_acc` (call questions answered with the right geocode call),
`real_abstain_acc` (abstain questions with no call), `real_accuracy` (both together) and
`real_json_valid_rate` (emitted calls that parse).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
import unicodedata
from collections import Counter

from tasks import ui

TAG = "EVAL"
PLACE_SLOTS = ("city", "geographic_poi", "state", "country")
HORIZON_DAYS = 14  # get_forecast's limit
PERSONA_ORDER = ("twain", "franklin", "onion", "neutral")
METRICS = ("real_place_acc", "real_abstain_acc", "real_accuracy", "real_json_valid_rate")

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
          "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
             "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
             "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30}
_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
           "nov": 11, "dec": 12}
_MONTH_RE = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
# Fixed-date holidays that occur in weather questions (month, day).
_HOLIDAYS = {"christmas eve": (12, 24), "christmas": (12, 25), "new year's eve": (12, 31), "new years eve": (12, 31),
             "new year's day": (1, 1), "new years day": (1, 1), "halloween": (10, 31), "independence day": (7, 4),
             "valentine's day": (2, 14), "valentines day": (2, 14), "st. patrick's day": (3, 17), "saint patrick's day": (3, 17),
             "san jacinto day": (4, 21), "assumption of mary": (8, 15), "all saints day": (11, 1), "veterans day": (11, 11)}
_UNIT_DAYS = {"second": 1 / 86400, "minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "fortnight": 14, "month": 30,
              "year": 365, "decade": 3650}
_SPANS = ("year", "month", "spring", "summer", "fall", "autumn", "winter")


# ----------------------------------------------------------------- reading places and times (pure)


def normalize(text: str) -> str:
    """Case-, accent- and punctuation-blind form: 'São Paulo,' and 'sao  paulo' are equal."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


def place_named(place: str, arguments: dict) -> bool:
    """True when the place appears, as whole words, in the call's string arguments."""
    want = normalize(place)
    got = normalize(" ".join(str(v) for v in arguments.values() if isinstance(v, str)))
    return bool(want) and f" {want} " in f" {got} "


def _spelled_numbers(text: str) -> str:
    """'one hundred thirty five days' -> '135 days'; '48 and a half' -> '48.5'."""
    out, run = [], []

    def flush():
        if run:
            total, current = 0, 0
            for w in run:
                if w in _UNITS:
                    current += _UNITS[w]
                elif w in _TENS:
                    current += _TENS[w]
                elif w == "hundred":
                    current = max(current, 1) * 100
                elif w == "thousand":
                    total, current = total + max(current, 1) * 1000, 0
            out.append(str(total + current))
            run.clear()

    for word in re.split(r"[\s-]+", text):
        if word in _UNITS or word in _TENS or (word in ("hundred", "thousand") and run):
            run.append(word)
        elif word == "and" and run and run[-1] in ("hundred", "thousand"):
            continue
        else:
            flush()
            out.append(word)
    flush()
    return re.sub(r"(\d+) and a half", lambda m: f"{m.group(1)}.5", " ".join(out))


def _day_of_month(token: str) -> int | None:
    token = token.strip()
    m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?", token)
    if m:
        return int(m.group(1))
    words = re.split(r"[\s-]+", token)
    if len(words) == 1 and words[0] in _ORDINALS:
        return _ORDINALS[words[0]]
    if len(words) == 2 and words[0] in _TENS and words[1] in _ORDINALS and _ORDINALS[words[1]] < 10:
        return _TENS[words[0]] + _ORDINALS[words[1]]
    return None


def _next_occurrence(month: int, day: int, today: dt.date) -> dt.date | None:
    for year in (today.year, today.year + 1):
        try:
            d = dt.date(year, month, day)
        except ValueError:
            return None
        if d >= today:
            return d
    return None


def _calendar_date(text: str, today: dt.date) -> dt.date | None:
    """A date written out ('jul. the 4th, 2024', '5/17/2037', 'april the twelfth'), else None."""
    m = re.search(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b", text)
    if m:
        try:
            return dt.date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
        except ValueError:
            return None
    m = re.search(_MONTH_RE + r"\.?\s+(?:the\s+)?([0-9]{1,2}(?:st|nd|rd|th)?|[a-z]+(?:[\s-][a-z]+)?)(?:,?\s+(\d{4}))?\b", text)
    if not m:
        return None
    month = _MONTHS[m.group(1)[:4] if m.group(1).startswith("sept") else m.group(1)[:3]]
    day_text = m.group(2)
    day = _day_of_month(day_text)
    if day is None and " " in day_text:
        day = _day_of_month(day_text.split()[0])  # 'the fifth weekend': keep the ordinal only
    if day is None:
        return None
    if m.group(3):
        try:
            return dt.date(int(m.group(3)), month, day)
        except ValueError:
            return None
    return _next_occurrence(month, day, today)


def time_answerable(text: str, today: dt.date) -> tuple[bool, str]:
    """(can a current-weather or <= 14-day forecast answer it, why) for a timeRange slot's text."""
    t = " ".join(text.casefold().replace("week-end", "weekend").split())
    if re.search(r"\b(last|yesterday|ago|previous|past)\b", t):
        return False, "past"
    for name, (month, day) in _HOLIDAYS.items():
        if name in t:
            d = _next_occurrence(month, day, today)
            ahead = (d - today).days if d else None
            return (ahead is not None and ahead <= HORIZON_DAYS), f"{name}: {ahead} days ahead"
    d = _calendar_date(t, today)
    if d is not None:
        ahead = (d - today).days
        if ahead < 0:
            return False, f"past ({d.isoformat()})"
        return ahead <= HORIZON_DAYS, f"{d.isoformat()}: {ahead} days ahead"
    if (re.search(r"\b(this|next|coming)\s+(" + "|".join(_SPANS) + r")\b", t) or re.fullmatch(r"(" + "|".join(_SPANS) + r")s?", t)
            or re.search(r"\b(this|next|coming)\s+" + _MONTH_RE + r"\b", t)):
        return False, "a season, month or year"
    spelled = _spelled_numbers(t)
    m = re.search(r"(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week|fortnight|month|year|decade)s?\b", spelled)
    if m and (re.search(r"\b(in|from now|later|ahead|away)\b", spelled) or not re.search(r"\b(for|over|next|coming)\b", spelled)):
        ahead = float(m.group(1)) * _UNIT_DAYS[m.group(2)]
        return ahead <= HORIZON_DAYS, f"{ahead:g} days ahead"
    if m:
        # 'for the next 20 days', 'over 3 weeks': a span from today.
        span = float(m.group(1)) * _UNIT_DAYS[m.group(2)]
        return span <= HORIZON_DAYS, f"a {span:g}-day span"
    return True, "no date beyond the forecast range"


def expectation(row: dict, today: dt.date) -> dict:
    """{'kind': 'call', 'place': ...} or {'kind': 'abstain', 'why': ...} for one SNIPS question."""
    slots = {}
    for s in row["slots"]:
        slots.setdefault(s["entity"], s["text"])
    place = next((slots[e] for e in PLACE_SLOTS if e in slots), None)
    if place is None:
        return {"kind": "abstain", "why": "no place named" + (" (current location)" if "current_location" in slots else "")}
    for s in row["slots"]:
        if s["entity"] == "timeRange":
            ok, why = time_answerable(s["text"], today)
            if not ok:
                return {"kind": "abstain", "why": f"time {s['text']!r}: {why}"}
    return {"kind": "call", "place": place}


def judge(expected: dict, parsed: dict) -> bool:
    """Whether a parsed first output (evaluate.parse_output) is the right first move."""
    if expected["kind"] == "abstain":
        return not parsed["called"]
    calls = parsed["calls"]
    return bool(parsed["valid"] and calls and calls[0]["name"] == "geocode_location" and place_named(expected["place"], calls[0]["arguments"]))


def score(cases: list[dict]) -> dict:
    """Metrics over cases {'expected', 'parsed'}."""
    def rate(hits: int, n: int):
        return round(hits / n, 4) if n else None

    calls = [c for c in cases if c["expected"]["kind"] == "call"]
    abstains = [c for c in cases if c["expected"]["kind"] == "abstain"]
    emitted = [c for c in cases if c["parsed"]["called"]]
    return {
        "real_place_acc": rate(sum(judge(c["expected"], c["parsed"]) for c in calls), len(calls)),
        "real_abstain_acc": rate(sum(judge(c["expected"], c["parsed"]) for c in abstains), len(abstains)),
        "real_accuracy": rate(sum(judge(c["expected"], c["parsed"]) for c in cases), len(cases)),
        "real_json_valid_rate": rate(sum(c["parsed"]["valid"] for c in emitted), len(emitted)),
        "real_call_questions": len(calls), "real_abstain_questions": len(abstains), "real_calls_emitted": len(emitted),
    }


def questions(limit: int | None, today: dt.date) -> list[dict]:
    """The held-out questions (file order), each with its expectation and a persona's system prompt."""
    from tasks.data import personas, snips

    rows = snips.heldout()[:limit] if limit else snips.heldout()
    return [{"text": r["text"], "persona": PERSONA_ORDER[i % len(PERSONA_ORDER)],
             "system": personas.system_prompt(PERSONA_ORDER[i % len(PERSONA_ORDER)]), "expected": expectation(r, today)}
            for i, r in enumerate(rows)]


# ----------------------------------------------------------------- model work


def first_move(model, tok, system: str, question: str, max_new_tokens: int, device: str) -> str:
    """The model's greedy continuation, stopped as soon as it is clearly not a tool call."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    from tasks.serve.evaluate import CALL_PREFIX
    from tasks.train import template

    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    enc = tok.apply_chat_template(messages, tools=template.TOOLS, tokenize=True, return_dict=True, return_tensors="pt")
    enc = {k: v.to(device) for k, v in enc.items()}
    start = enc["input_ids"].shape[1]

    class NotACall(StoppingCriteria):
        # Only the first move is scored: an answer in words is known from its first few tokens.
        def __call__(self, input_ids, scores, **kw):
            text = tok.decode(input_ids[0, start:], skip_special_tokens=True).strip()
            return len(text) >= len(CALL_PREFIX) and not text.startswith(CALL_PREFIX)

    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id, stopping_criteria=StoppingCriteriaList([NotACall()]))
    return tok.decode(out[0, start:], skip_special_tokens=True)


def evaluate_real(model, tok, device: str, adapter_ctx, *, limit: int, max_new_tokens: int, time_budget_s: float,
                  today: dt.date | None = None) -> dict:
    """Base and adapter on the first `limit` held-out questions; `adapter_ctx(model, 'base'|'adapter')` switches."""
    from tasks.serve.evaluate import parse_output

    today = today or dt.date.today()
    qs = questions(limit, today)
    cases = {"base": [], "adapter": []}
    samples, partial, started = [], False, time.monotonic()
    for q in qs:
        if time.monotonic() - started > time_budget_s:
            partial = True
            break
        outputs = {}
        for which in ("base", "adapter"):
            with adapter_ctx(model, which):
                outputs[which] = first_move(model, tok, q["system"], q["text"], max_new_tokens, device)
            cases[which].append({"expected": q["expected"], "parsed": parse_output(outputs[which])})
        if len(samples) < 3:
            samples.append({"question": q["text"], "expected": q["expected"], **{k: v[:160] for k, v in outputs.items()}})
    return {"base": score(cases["base"]), "adapter": score(cases["adapter"]), "questions": len(cases["adapter"]),
            "questions_asked": len(qs), "partial": partial, "reference_date": today.isoformat(), "samples": samples}


# ----------------------------------------------------------------- the command


def run(today: str | None, limit: int | None) -> None:
    try:
        ref = dt.date.fromisoformat(today) if today else dt.date.today()
    except ValueError as exc:
        raise ui.Fail(f"--today {today!r}: not a date (expected YYYY-MM-DD)") from exc
    qs = questions(limit, ref)
    for q in qs:
        e = q["expected"]
        print(f"  {e['kind']:<8} {q['text'][:70]:<72} {e.get('place') or e.get('why')}")
    kinds = Counter(q["expected"]["kind"] for q in qs)
    ui.success(f"[{TAG}] {len(qs)} held-out questions against {ref}: {kinds['call']} expect a geocode call, {kinds['abstain']} expect no call")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--today", default=None, help="reference date YYYY-MM-DD for reading times (default: today)")
    parser.add_argument("--limit", type=int, default=None, help="the first N held-out questions only")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.today, args.limit)


if __name__ == "__main__":
    raise SystemExit(main())
