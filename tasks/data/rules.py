"""Rules every generated answer keeps, read from the conversations alone: `make data` refuses data that
breaks one and names the conversation, the rule and the text.

    python -m tasks.data.rules --data data/synthetic/final_train.jsonl data/synthetic/final_validation.jsonl

- sentence_join: two sentences joined without a space ("friend.Which place");
- grammar: a doubled word ("the the"), a space before a comma, doubled spaces, a plural verb after a
  singular mass noun ("machinery have");
- verdict_on_open_question: an answer that opens with a verdict ("Yes:", "No, sir:", "A little:") to a
  question that is not a yes/no question ("what's the weather at 48.1, 11.6?");
- comparison_missing: "will it be any different tomorrow?" answered with tomorrow alone, no comparison;
- failure_joke_without_failure: a joke about machines failing in a turn where no tool failed;
- sun_at_night: sunscreen, shade or a picnic suggested for a reading taken after dark (the place's clock);
- gusts_for_mean_wind: "gusts" for the mean wind the tools report (no gust figure in any result);
- repeated_user_turn: a user turn that repeats an earlier one of the same conversation word for word.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from tasks import ui
from tasks.data import quality

TAG = "DATA"
RULES = ("sentence_join", "grammar", "verdict_on_open_question", "comparison_missing", "failure_joke_without_failure",
         "sun_at_night", "gusts_for_mean_wind", "repeated_user_turn")

_JOIN = re.compile(r"[a-z\)”\"'][.!?][A-Z][a-z]")
_GRAMMAR = [re.compile(r"\b(\w+) \1\b", re.IGNORECASE), re.compile(r" ,"), re.compile(r"[^\n] {2,}\S"),
            re.compile(r"\b(machinery|weather|the sky|information|news) (have|are|were)\b", re.IGNORECASE)]
_NOT_DOUBLED = {"that", "had", "is"}  # "that that" and "had had" can be English; the others are slips
# A clause that asks for a yes or a no (after a context such as "Heading out later - ").
_YESNO_CLAUSE = re.compile(r"(?:^|[.,;:!?\-]\s*)(is|will|should|does|do|can|could|would|are|am|gonna|any|was|were|did|"
                           r"tell me if|i want to know if|let me know if|is it|will it)\b", re.IGNORECASE)
_COMPARE_ASK = re.compile(r"\b(any different|differ\w*|change\w*|better|worse|warmer|colder|cooler|hotter)\b", re.IGNORECASE)
_COMPARED = re.compile(r"\b(than|same|against|like today|as today|up from|down from|from today|today's|compared|unlike|"
                       r"change\w*|differ\w*|wins|level|warmer|cooler|colder|hotter|milder)\b", re.IGNORECASE)
# A user turn that asks something itself; "oops, Gaborone" or "the one in Maine" only carries on an
# earlier question, whose kind (yes/no or open) the answer keeps.
_ASKS = re.compile(r"\b(what|what's|whats|how|which|where|when|weather|forecast|conditions|temperature|rain|snow|wind\w*|"
                   r"hot|cold|warm|sunny|humid\w*|is|will|do|does|any)\b", re.IGNORECASE)
_FAILURE = re.compile(r"\b(fail\w*|broken|broke down|outage|malfunction\w*|sulk\w*|won't answer|refuses to talk|let me down|"
                      r"quit on me|not responding|hiccup|gone quiet|out of order)\b", re.IGNORECASE)
_SUN = re.compile(r"\b(sunscreen|sunglasses|sun ?hat|sunburn|seek shade|in the shade|picnic|midday sun|afternoon heat|sun cream)\b",
                  re.IGNORECASE)
_GUST = re.compile(r"\bgust\w*", re.IGNORECASE)


@lru_cache(maxsize=1)
def _verdict_opening() -> re.Pattern:
    """A verdict word or phrase of any persona, as the first words of an answer, before a colon."""
    from tasks.data.convo.voice import PARTLY
    from tasks.data.personas import PERSONAS

    words = {w for p in PERSONAS.values() for w in p.yes + p.no + p.maybe} | set(PARTLY)
    return re.compile(r"^\s*(" + "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True)) + r")\s*:", re.IGNORECASE)


_CONTINUES = re.compile(r"^\s*(and|what about|how about|same for|now|ok and|and in)\b", re.IGNORECASE)
_OPEN = re.compile(r"\b(what|what's|whats|how|which|where|when)\b", re.IGNORECASE)
# what an elliptical yes/no question asks about: "lovely day in Madrid?", "jacket weather in Oslo tonight?"
_VERDICT_NOUN = re.compile(r"\b(lovely|nice|good day|grey|gray|jacket|coat|shorts|walk|picnic|beach|t-shirt|gloves|layers)\b", re.IGNORECASE)
_COMPARE_DAY = re.compile(r"\b(tomorrow|tmrw|day after|next day|than today|than yesterday)\b", re.IGNORECASE)


def is_yesno(text: str) -> bool:
    """Whether a user turn asks for a yes or a no: in any of its clauses, or elliptically, a thing asked
    about with no question word ("snow in Cairo over the next ten days?", "shorts weather in Marrakesh?")."""
    if _YESNO_CLAUSE.search(text.strip()):
        return True
    from tasks.data.phrasing import _FOCUS_OF

    thing = any(_FOCUS_OF.get(word) not in (None, "general") for word in re.findall(r"[a-z]+", text.lower())) or _VERDICT_NOUN.search(text)
    return (thing or bool(quality.focus_of(text))) and not _OPEN.search(text)


def _night(result: dict) -> bool:
    cur = result.get("current")
    if not isinstance(cur, dict):
        return False
    if "is_day" in cur:
        return not cur["is_day"]
    hour = int(str(cur.get("time", "T12"))[11:13] or 12)
    return hour < 6 or hour >= 20


def problems(conv: dict) -> list[tuple[str, str]]:
    """(rule, evidence) for every rule the conversation breaks."""
    out = []
    seen_users: set[str] = set()
    for m in conv["messages"]:
        if m["role"] == "user":
            key = " ".join(m["content"].lower().split())
            if key in seen_users:
                out.append(("repeated_user_turn", m["content"]))
            seen_users.add(key)
        elif m["role"] == "assistant" and m.get("content"):
            text = m["content"]
            if (hit := _JOIN.search(text)) is not None:
                out.append(("sentence_join", text[max(0, hit.start() - 30): hit.end() + 30]))
            for rx in _GRAMMAR:
                for hit in rx.finditer(text):
                    if rx is _GRAMMAR[0] and (hit.group(1).lower() in _NOT_DOUBLED or hit.group(1).isdigit()):
                        continue
                    out.append(("grammar", text[max(0, hit.start() - 30): hit.end() + 30]))
                    break
    question = ""
    for user, results, answer in quality.turns(conv):
        if not question or _ASKS.search(user) and not (_CONTINUES.match(user) and not quality.focus_of(user)):
            question = user
        if answer is None:
            continue
        failed = any(r.get("error") for r in results)
        weather = [r for r in results if "current" in r or "daily" in r]
        if weather and not is_yesno(question) and _verdict_opening().match(quality.lead(answer)):
            out.append(("verdict_on_open_question", f"{question!r} -> {quality.lead(answer)!r}"))
        if weather and _COMPARE_ASK.search(user) and _COMPARE_DAY.search(user) and not _COMPARED.search(answer):
            out.append(("comparison_missing", f"{user!r} -> {answer!r}"))
        if not failed and (hit := _FAILURE.search(answer)) is not None:
            out.append(("failure_joke_without_failure", f"{user!r} -> ...{answer[max(0, hit.start() - 60): hit.end() + 30]}"))
        if any(_night(r) for r in weather) and (hit := _SUN.search(answer)) is not None:
            out.append(("sun_at_night", f"{user!r} -> ...{answer[max(0, hit.start() - 60): hit.end() + 30]}"))
        if weather and not any("gust" in json.dumps(r) for r in weather) and (hit := _GUST.search(answer)) is not None:
            out.append(("gusts_for_mean_wind", f"...{answer[max(0, hit.start() - 60): hit.end() + 30]}"))
    return out


def measure(conversations: list[dict]) -> dict:
    """{"counts": {rule: answers breaking it}, "examples": the first few, named by conversation id}."""
    counts = Counter({r: 0 for r in RULES})
    examples = []
    for conv in conversations:
        for rule, evidence in problems(conv):
            counts[rule] += 1
            if len(examples) < 20:
                examples.append(f"{conv.get('metadata', {}).get('id', '?')}: {rule}: {evidence}")
    return {"counts": dict(counts), "examples": examples}


def run(paths: list[Path]) -> None:
    conversations = []
    for path in paths:
        conversations += quality._read(path)
    result = measure(conversations)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    broken = sum(result["counts"].values())
    if broken:
        raise ui.Fail(f"{broken} answers break the answer rules (first: {result['examples'][0]}); fix tasks/data/convo/")
    ui.success(f"{len(conversations)} conversations keep every answer rule")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="JSONL files to check")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.data)


if __name__ == "__main__":
    raise SystemExit(main())


_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n\n")


def stock_tags(conversations: list[dict], limit: float = 0.005) -> dict:
    """Per persona: the voice sentence (no figure in it; places masked) found in the most of its answers,
    that share, and how many sentences pass `limit` (issue 19: none above 0.5% of a persona's answers).
    A short sentence every persona needs ("Which city?") counts too: a voice repeats itself either way."""
    found: dict[str, Counter] = {}
    answers = Counter()
    for conv in conversations:
        p = conv["tags"]["persona"]
        bag = found.setdefault(p, Counter())
        for m in conv["messages"]:
            if m["role"] == "assistant" and m.get("content"):
                answers[p] += 1
                bag.update({quality.shape(s) for s in _SENTENCES.split(m["content"]) if s and not re.search(r"\d", s)})
    out = {}
    for p, bag in sorted(found.items()):
        top, n = max(bag.items(), key=lambda kv: (kv[1], kv[0])) if bag else ("", 0)
        out[p] = {"sentence": top, "answers": answers[p], "share": round(n / max(answers[p], 1), 4),
                  "over_limit": sum(1 for k in bag.values() if k > limit * answers[p])}
    return out
