"""Generate the training data: 16,000 weather conversations with tool calls, in four voices.

    python -m tasks.data.generate [--out data/synthetic] [--n 16000] [--seed 1729]
    make data

Writes `final_train.jsonl` and `final_validation.jsonl`, validates both against the data contract
(tasks.data.validate), checks that every answer addresses its question (tasks.data.quality), measures
tokens with the real Mistral v0.2 tokenizer and the project's chat template, and writes
`merge_metadata.json` LAST (make's target for all three files).

Users ask as people do (tasks.data.phrasing: real SNIPS questions with their slots replaced, and
casual, lower-case, misspelt questions), about days the tools can answer or, as lessons, about days
and things they cannot. Every answer's first sentence answers the question (a verdict, the variable
asked about, the day asked about) and every number in it is a tool figure or an exact conversion of
one (°F, mph). Scenarios (`tags.scenario`):

- geocode_then_weather: a place by name; geocode_location, then the weather call with its coordinates;
- current, forecast: the user gives coordinates (a small share); one tool round;
- compare: two places at once: two geocode calls in one turn, then two weather calls in one turn;
- ambiguous_place: the geocoder returns several places (Portland, San Jose, ...): the model picks by
  the user's hint, or asks which, or says which it took;
- multi_turn: three to five user turns that refer back ("there", "the day after", another city);
- unsupported: hourly, historical or UV questions: answered honestly, with what the tools can give;
- error_unknown_place, error_tool, error_too_many_days: the assistant explains and offers what it can;
- no_tool: greetings, thanks, questions about the assistant, weather knowledge, off-topic requests
  and questions with no place ("near me"): no tool call.

The validation split is held out: its conversations use other cities and other phrasing families
(phrasing.in_split) than training, and none of its user turns appears in training.

Deterministic: each conversation draws from its own `random.Random(f"{seed}:{i}")`, so the same seed
gives the same bytes on every machine. `generate(n)` is the fast, tokenizer-free entry point that
tests of other modules use for small datasets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import re
import statistics
import string
import time
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from tasks import ui

from tasks.data import climate, freshness, gazetteer, localtime, openmeteo, phrasing, weather
from tasks.data.phrasing import When, number_word
from tasks.data.personas import PERSONAS, Persona, system_prompt

TAG = "DATA"
ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "data" / "synthetic"
TRAIN_FILE = "final_train.jsonl"
VALIDATION_FILE = "final_validation.jsonl"
METADATA_FILE = "merge_metadata.json"
SEED = 1729
N_TOTAL = 16000
VALIDATION_FRACTION = 0.10
GENERATOR_VERSION = "2.0.0"
PROFILES = freshness.PROFILES  # the profiles whose lengths the metadata reports

# Shares of the whole dataset; the same mix inside every persona.
SCENARIO_SHARES = {
    "geocode_then_weather": 0.36,
    "current": 0.03,
    "forecast": 0.03,
    "compare": 0.05,
    "ambiguous_place": 0.04,
    "multi_turn": 0.14,
    "unsupported": 0.05,
    "error_unknown_place": 0.05,
    "error_tool": 0.05,
    "error_too_many_days": 0.05,
    "no_tool": 0.15,
}
ERROR_SCENARIOS = ("error_unknown_place", "error_tool", "error_too_many_days")
DATED_SHARE = 0.35  # conversations whose system prompt carries today's date

# ----------------------------------------------------------------------------- text helpers

_ALTERNATIVE = re.compile(r"\[([^\[\]]*)\]")


def expand(rng: random.Random, template: str, **values) -> str:
    """Pick one alternative of every `[a|b|c]` (innermost first), then fill `{name}`."""
    text = template
    while (m := _ALTERNATIVE.search(text)) is not None:
        text = text[: m.start()] + rng.choice(m.group(1).split("|")) + text[m.end():]
    if values:
        text = text.format(**values)
    return re.sub(r" {2,}", " ", text).strip()


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def fmt(x: float) -> str:
    """A number exactly as the tool result's JSON wrote it (so the answer repeats it verbatim)."""
    return json.dumps(x)


def to_fahrenheit(c: float) -> float:
    return round(c * 9 / 5 + 32, 1)


def to_mph(kmh: float) -> float:
    return round(kmh / 1.609344, 1)


def article(number: str) -> str:
    """'a' or 'an' before a number as it is read aloud (an 8, an 11, an 18, an 80)."""
    whole = number.split(".")[0].lstrip("-")
    return "an" if whole.startswith("8") or whole in ("11", "18") else "a"


def plural(desc: str) -> bool:
    """WMO descriptions are noun phrases; those ending in s (skies, showers, thunderstorms) are plural."""
    return desc.endswith("s")


def be(desc: str) -> str:
    return "are" if plural(desc) else "is"


SPANS = ["{a} to {b}", "from {a} to {b}", "between {a} and {b}", "{a} at night and {b} by day", "{a} rising to {b}", "{a} up to {b}",
         "{b} at best and {a} at worst", "{a} overnight, {b} in the afternoon", "anywhere from {a} to {b}", "{a} climbing to {b}",
         "{b} by mid-afternoon from {a}", "no lower than {a} and no higher than {b}", "{a} in the small hours, {b} at the peak",
         "{a} early, {b} later"]


def span(rng: random.Random, lo: str, hi: str) -> str:
    """A temperature range in one of several wordings (the same two figures)."""
    return rng.choice(SPANS).format(a=lo, b=hi)


def join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ----------------------------------------------------------------------------- conversation builder


@dataclass(frozen=True)
class Ask:
    """What one user turn asks: the time, what it is about, the units wanted."""
    when: When
    focus: str = "general"
    yesno: bool = False
    comparative: bool = False
    fahrenheit: bool = False
    mph: bool = False


class Conversation:
    """Accumulates messages in the OpenAI chat format."""

    def __init__(self, rng: random.Random, persona: str, world: str, split: str, dated: bool):
        self.rng = rng
        self.world = world  # seeds the weather: every call in one conversation sees the same weather
        self.split = split
        self.persona: Persona = PERSONAS[persona]
        # The minute comes from the world's own seed, so the conversation's other draws stay as they were.
        self.now = pick_moment(rng).replace(minute=random.Random(f"{world}:minute").randrange(60))
        self.today = self.now.date() if dated else None
        self.messages: list[dict] = [{"role": "system", "content": system_prompt(persona, self.today)}]

    def pick(self, pool: list[str]) -> str:
        """A user-side template from this split's share of the pool."""
        return self.rng.choice(phrasing.split_pool(pool, self.split))

    def user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})

    def _id(self) -> str:
        return "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(9))

    def calls(self, batch: list[tuple[str, dict, dict]]) -> list[dict]:
        """One assistant turn with one or more tool calls, then their results; returns the payloads."""
        ids = [self._id() for _ in batch]
        self.messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}
            for i, (name, args, _) in zip(ids, batch, strict=True)]})
        for i, (_, _, payload) in zip(ids, batch, strict=True):
            self.messages.append({"role": "tool", "tool_call_id": i,
                                  "content": json.dumps(payload, ensure_ascii=False, separators=(",", ":"))})
        return [payload for _, _, payload in batch]

    def call(self, name: str, arguments: dict, payload: dict) -> dict:
        return self.calls([(name, arguments, payload)])[0]

    def say(self, text: str) -> None:
        self.messages.append({"role": "assistant", "content": text})


@lru_cache(maxsize=None)
def split_cities(split: str) -> tuple[gazetteer.City, ...]:
    """The cities of one split (validation has its own), without the ambiguous names (their own scenario)."""
    return tuple(x for x in gazetteer.CITIES if phrasing.in_split(x.name, split) and x.name not in gazetteer.AMBIGUOUS)


def pick_city(c: Conversation, avoid: tuple[str, ...] = ()) -> gazetteer.City:
    while True:
        city = c.rng.choice(split_cities(c.split))
        if city.name not in avoid:
            return city


def pick_moment(rng: random.Random) -> dt.datetime:
    day = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(365))
    return dt.datetime.combine(day, dt.time(rng.randrange(6, 23)))


# ----------------------------------------------------------------------------- the user's words


def mess(rng: random.Random, text: str, lower: bool) -> str:
    """How people type: sometimes lower case, no question mark, a dropped apostrophe."""
    if lower:
        text = text.lower()
    r = rng.random()
    if r < 0.25:
        text = text.rstrip("?. ")
    elif r < 0.3:
        text = text.rstrip("?. ") + "??"
    if rng.random() < 0.15:  # contractions lose their apostrophe; names (Sana'a, Xi'an) keep theirs
        text = re.sub(r"(\w)'(s|t|ll|m|re|d|ve)\b", r"\1\2", text)
    return text


def fill(template: str, place: str, when_words: str) -> str:
    text = phrasing.fill_time(template, when_words).replace("{p}", place)
    return re.sub(r" {2,}", " ", text).replace(" ?", "?").strip()


def own_question(c: Conversation, focus: str, yesno: bool, place: str, when_words: str) -> str:
    key = (focus, yesno) if (focus, yesno) in phrasing.OWN else ("general", False)
    text = fill(c.pick(phrasing.OWN[key]), place, when_words)
    if c.rng.random() < 0.2:
        text = c.pick(phrasing.CONTEXTS) + c.rng.choice([". ", ", ", " - "]) + (text[0].lower() + text[1:] if text[:2] != "I " else text)
    return text


def choose_ask(c: Conversation, kinds=("now", "day", "tonight", "weekend", "range"), focus: str | None = None) -> tuple[Ask, str | None]:
    """An answerable ask and, for a share, a SNIPS template that fits it (else None: own phrasing)."""
    rng = c.rng
    when = phrasing.pick_when(rng, c.today, kinds)
    template = None
    if focus is None and rng.random() < 0.45:
        t = rng.choice(phrasing.snips_for(c.split))
        template = t.text
        focus, yesno, comparative = t.focus, t.yesno, t.comparative
        if when.kind == "now" and re.search(r"\b(forecast|will|going to|gonna)\b", t.text, re.IGNORECASE) and "now" in kinds and "range" in kinds:
            # asks about what is coming, with no day: the next three days, said without words of its own
            when = phrasing.When("range", 0, 3, "", "over the next three days")
        if comparative and when.kind != "day" or comparative and when.day == 0:
            when = phrasing.When("day", 1, 2, "tomorrow", "tomorrow")
    else:
        if focus is None:
            focus = rng.choices(["general", "rain", "snow", "wind", "storm", "sun", "cloud", "fog", "humid", "hot", "warm", "cold"],
                                weights=[34, 18, 3, 7, 2, 4, 2, 1, 3, 4, 4, 14])[0]
        options = [yn for yn in (True, False) if (focus, yn) in phrasing.OWN]
        yesno = rng.choice(options) if options else False
        comparative = False
    if focus in ("wind", "humid") and when.kind != "now" and rng.random() < 0.6:
        when = phrasing.When("now", text=rng.choice(["", "right now", "now"]), label="right now")
    ask = Ask(when, focus, yesno, comparative, fahrenheit=rng.random() < 0.08, mph=focus == "wind" and rng.random() < 0.4)
    return ask, template


def question(c: Conversation, ask: Ask, place: str, template: str | None, lower: bool) -> str:
    when_words = ask.when.text
    text = fill(template, place, when_words) if template else own_question(c, ask.focus, ask.yesno, place, when_words)
    if ask.fahrenheit:
        text = text.rstrip("?. ") + c.rng.choice(phrasing.FAHRENHEIT_ASKS) + ("?" if text.endswith("?") else "")
    if ask.mph:
        text = text.rstrip("?. ") + c.rng.choice(phrasing.MPH_ASKS) + ("?" if text.endswith("?") else "")
    return mess(c.rng, text, lower)


# ----------------------------------------------------------------------------- figures in the units asked


def temp(c_value: float, ask: Ask) -> str:
    if ask.fahrenheit:
        return f"{fmt(to_fahrenheit(c_value))}°F"
    return f"{fmt(c_value)}°C"


def wind(kmh: float, ask: Ask) -> str:
    return f"{fmt(to_mph(kmh))} mph" if ask.mph else f"{fmt(kmh)} km/h"


def day_name(c: Conversation, start: dt.date, i: int) -> str:
    """How an answer names forecast day i: today, tomorrow, a weekday when today's date is known
    (the system prompt says it), else the date the forecast itself gives."""
    if i == 0:
        return "today"
    if i == 1:
        return "tomorrow"
    day = start + dt.timedelta(days=i)
    if c.today is None:
        return f"on {day.day} {day:%B}"
    if i <= 6:
        return f"on {day:%A}"
    # A bare weekday beyond six days is ambiguous (this Tuesday or next?): a date, or "next Tuesday"
    # where only one Tuesday lies ahead in the forecast's second week.
    return f"next {day:%A}" if i <= 13 and c.rng.random() < 0.5 else f"on {day:%A} {day.day} {day:%B}"


# ----------------------------------------------------------------------------- verdicts

RAIN_CODES = (51, 53, 61, 63, 65, 80, 81, 95)
CLEAR_CODES = (0, 1)


def verdict_now(focus: str, now: dict) -> str | None:
    """yes / partly / no for a yes/no question about current conditions; None: no such figure."""
    code, t = now["weather_code"], now["temperature_2m"]
    return {
        "rain": "yes" if code in RAIN_CODES else "no",
        "snow": "yes" if code in weather.SNOW_CODES else "no",
        "storm": "yes" if code == 95 else "no",
        "sun": "yes" if code in CLEAR_CODES else "partly" if code == 2 else "no",
        "cloud": "no" if code in CLEAR_CODES else "partly" if code == 2 else "yes",
        "fog": "yes" if code == 45 else "no",
        "wind": "yes" if now["wind_speed_10m"] >= 30 else "partly" if now["wind_speed_10m"] >= 20 else "no",
        "humid": "yes" if now["relative_humidity_2m"] >= 75 else "partly" if now["relative_humidity_2m"] >= 60 else "no",
        "hot": "yes" if t >= 28 else "partly" if t >= 23 else "no",
        "warm": "yes" if t >= 20 else "partly" if t >= 15 else "no",
        "cold": "yes" if t <= 10 else "partly" if t <= 16 else "no",
        "general": "yes" if code in (0, 1, 2) and 12 <= t <= 28 else "partly" if code in weather.DRY_CODES else "no",
    }.get(focus)


def verdict_day(focus: str, row: dict) -> str | None:
    code, hi, lo, pp = row["weather_code"], row["hi"], row["lo"], row["pp"]
    return {
        "rain": "yes" if code in RAIN_CODES or (pp >= 50 and code not in weather.SNOW_CODES) else
                "partly" if pp >= 30 and code not in weather.SNOW_CODES else "no",
        "snow": "yes" if code in weather.SNOW_CODES else "no",
        "storm": "yes" if code == 95 else "no",
        "sun": "yes" if code in CLEAR_CODES else "partly" if code == 2 else "no",
        "cloud": "no" if code in CLEAR_CODES else "partly" if code == 2 else "yes",
        "fog": "yes" if code == 45 else "no",
        "hot": "yes" if hi >= 28 else "partly" if hi >= 23 else "no",
        "warm": "yes" if hi >= 20 else "partly" if hi >= 15 else "no",
        "cold": "yes" if hi <= 10 or lo <= 3 else "partly" if hi <= 16 else "no",
        "general": "yes" if code in (0, 1, 2) and 12 <= hi <= 28 else "partly" if code in weather.DRY_CODES else "no",
    }.get(focus)


PARTLY = ["Somewhat", "Only a little", "A little", "Partly"]


def verdict_word(c: Conversation, verdict: str) -> str:
    p = c.persona
    if verdict == "yes":
        return c.rng.choice(p.yes)
    if verdict == "no":
        return c.rng.choice(p.no)
    return c.rng.choice(PARTLY)


def maybe_word(c: Conversation) -> str:
    return c.rng.choice(c.persona.maybe)


# ----------------------------------------------------------------------------- answer cores (the fact the first sentence carries)


def rows_of(fc: dict) -> list[dict]:
    d = fc["daily"]
    return [{"time": d["time"][i], "weather_code": d["weather_code"][i], "desc": d["weather_description"][i],
             "hi": d["temperature_2m_max"][i], "lo": d["temperature_2m_min"][i], "psum": d["precipitation_sum"][i],
             "pp": d["precipitation_probability_max"][i]} for i in range(len(d["time"]))]


FOCUS_NOUN = {"wind": "wind", "humid": "humidity"}


def core_now(c: Conversation, ask: Ask, place: str, now: dict) -> tuple[str, str | None]:
    """(fact clause, verdict) for a question about current conditions."""
    rng = c.rng
    v = {"place": place, "T": temp(now["temperature_2m"], ask), "desc": now["weather_description"],
         "W": wind(now["wind_speed_10m"], ask), "H": fmt(now["relative_humidity_2m"]), "F": temp(now["apparent_temperature"], ask)}
    focus = ask.focus
    state = verdict_now(focus, now)
    verdict = state if ask.yesno else None
    if focus == "wind":
        core = expand(rng, rng.choice([
            "the wind in {place} is {W} right now",
            "{place} has [a wind of|winds of|wind at] {W} [at the moment|right now]",
            "[wind|the wind] [is blowing at|is running at|measures] {W} in {place} [right now|just now]",
        ]), **v)
    elif focus == "humid":
        core = expand(rng, rng.choice([
            "humidity in {place} is {H}% right now",
            "the air in {place} [holds|is at] {H}% [relative humidity|humidity] [at the moment|right now]",
            "{place} [is sitting at|reads] {H}% humidity [right now|just now]",
        ]), **v)
    elif focus == "rain" and state == "no" and now["weather_code"] in weather.SNOW_CODES:
        core = expand(rng, "[it's snow, not rain|that's snow rather than rain]: {place} has {desc} [right now|at the moment], at {T}", **v)
    elif focus == "rain" and state == "yes":
        core = expand(rng, rng.choice([
            "{place} has {desc} right now, [with|and] {P} mm [in the last hour|over the past hour], at {T}",
            "[it's raining in {place}|rain is falling in {place}] [right now|at the moment]: {desc}, {P} mm in the last hour, {T}",
        ]), P=fmt(now["precipitation"]), **v)
    elif focus in ("rain", "snow", "storm") and state == "no":
        noun = {"rain": "rain", "snow": "snow", "storm": "thunderstorms"}[focus]
        core = expand(rng, rng.choice([
            "[no|there's no] " + noun + " in {place} [right now|at the moment]: {desc} and {T}",
            "{place} is free of " + noun + " [right now|at the moment], with {desc} and {T}",
        ]), **v)
    elif focus in ("hot", "warm", "cold"):
        core = expand(rng, rng.choice([
            "it's {T} in {place} right now, with {desc}",
            "{place} is at {T} [at the moment|right now|just now][, and it feels like {F}|]",
            "the thermometer in {place} reads {T} [right now|at the moment], [with|under] {desc}",
            "[right now|at the moment] {place} has {T} and {desc}",
        ]), **v)
    else:  # general, rain/snow/storm/sun/cloud/fog with the sky as the answer
        core = expand(rng, rng.choice([
            "{place} has {desc} and {T} right now",
            "it's {T} [with|and] {desc} in {place} [right now|at the moment]",
            "[right now|at the moment|currently] {place} [has|is seeing] {desc} at {T}",
            "{desc} and {T} in {place} [right now|at the moment|as of this hour]",
            "[the latest reading|the newest observation|the last reading|the thermometer] [from|for|in] {place} [shows|says|gives] {T}[ with| and| under] {desc}",
        ]), **v)
    return core, verdict


def core_day(c: Conversation, ask: Ask, place: str, rows: list[dict], start: dt.date) -> tuple[str, str | None]:
    """(fact clause, verdict) for one day (today, tonight, tomorrow, Saturday, ...)."""
    rng = c.rng
    i = ask.when.day
    row = rows[i]
    label = "tonight" if ask.when.kind == "tonight" else ask.when.label or day_name(c, start, i)
    v = {"place": place, "day": label, "desc": row["desc"], "be": be(row["desc"]), "hi": temp(row["hi"], ask),
         "lo": temp(row["lo"], ask), "pp": fmt(row["pp"]), "a_pp": article(fmt(row["pp"])), "psum": fmt(row["psum"])}
    v["span"] = span(rng, v["lo"], v["hi"])
    v["dayn"] = label.removeprefix("on ")  # the day as a subject: "Saturday brings ...", not "on Saturday brings"
    focus = ask.focus
    state = verdict_day(focus, row)
    verdict = state if ask.yesno else None
    if focus in ("wind", "humid"):
        noun = FOCUS_NOUN[focus]
        core = expand(rng, rng.choice([
            "the daily forecast gives no " + noun + " figures, so I can't say [how windy|how humid|either way] {day} will be in {place}; [what it has is|it does give] {desc}, {span}",
            "I can't say: the forecast for {place} has no " + noun + " in it, only {desc} {day}, {span}",
        ]).replace("[how windy|how humid|either way]", "how windy" if focus == "wind" else "how humid"), **v)
        return core, "cant"
    if ask.comparative:
        today = rows[0]
        diff = row["hi"] - today["hi"]
        v |= {"hi0": temp(today["hi"], ask)}
        word = {"cold": ("colder", "cooler"), "warm": ("warmer", "milder"), "hot": ("hotter", "warmer")}[focus]
        up = focus in ("warm", "hot")
        if abs(diff) < 0.5:
            verdict = "partly"
            core = expand(rng, "about the same: {place} peaks at {hi} {day} against {hi0} today", **v)
            return core, "same"
        verdict = "yes" if (diff > 0) == up else "no"
        rel = (word[0] if up else "warmer") if diff > 0 else ("colder" if not up else word[0].replace("warmer", "cooler").replace("hotter", "cooler"))
        core = expand(rng, rng.choice([
            "{place} will be " + rel + " {day}, [peaking at|topping out at|reaching] {hi} against {hi0} today",
            "{dayn} tops out at {hi} in {place}, " + rel + " than today's {hi0}",
        ]), **v)
        return core, verdict
    if ask.when.kind == "tonight" and focus in ("general", "rain", "hot", "warm", "cold"):
        core = expand(rng, rng.choice([
            "{place} drops to {lo} tonight[, after a day of {desc}|, with {desc} today|]",
            "tonight's low in {place} is {lo}, [and today brings|with] {desc}",
            "it goes down to {lo} in {place} tonight, [with|after] {desc}[ today|]",
        ]), **v)
        if focus == "rain":
            core += expand(rng, ", and the chance of rain today is {pp}%", **v)
        return core, verdict
    if focus == "rain" and state in ("yes", "partly") and row["weather_code"] not in weather.DRY_CODES:
        core = expand(rng, rng.choice([
            "{desc} {be} forecast in {place} {day}, with {a_pp} {pp}% chance of rain and about {psum} mm",
            "{place} can expect {desc} {day}: {a_pp} {pp}% chance, about {psum} mm",
            "{dayn} brings {desc} to {place}, {a_pp} {pp}% chance of rain[ and about {psum} mm|]",
        ]), **v)
    elif focus == "rain":
        core = expand(rng, rng.choice([
            "{place} [looks|should stay] dry {day}, with {desc} and [only |]{a_pp} {pp}% chance of rain",
            "[the chance of rain|the rain risk|the likelihood of rain] in {place} {day} is [just |]{pp}%, with {desc} [forecast|expected|in the outlook]",
            "{day} {place} has {a_pp} {pp}% chance of rain and {desc}",
        ]), **v)
        if row["weather_code"] in weather.SNOW_CODES:
            core = expand(rng, "snow rather than rain: {desc} {be} forecast in {place} {day}, {span}", **v)
    elif focus == "snow" and state == "yes":
        core = expand(rng, "{desc} {be} forecast in {place} {day}[, about {psum} mm|], with {span}", **v)
    elif focus in ("snow", "storm") and state == "no":
        noun = "snow" if focus == "snow" else "thunderstorms"
        core = expand(rng, "no " + noun + " [is|are] forecast in {place} {day}: {desc}, {span}", **v)
        core = core.replace("no snow are", "no snow is").replace("no thunderstorms is", "no thunderstorms are")
    elif focus in ("hot", "warm", "cold"):
        core = expand(rng, rng.choice([
            "{place} [reaches|climbs to|tops out at|peaks at] {hi} {day}, [dropping to|with a low of|falling to|after a low of] {lo}, [with|under] {desc}",
            "{day} {place} [goes|runs|ranges] from {lo} to {hi}, with {desc}",
            "[expect|look for|plan on] [a top of|a maximum of|a high near|highs around] {hi} and [a low of|a minimum of|lows near|a bottom of] {lo} in {place} {day}, [with|under|and] {desc}",
            "the [high|top temperature|highest it gets] in {place} {day} is {hi}, [the low|the overnight low] {lo}, [with|and] {desc}",
        ]), **v)
    else:
        core = expand(rng, rng.choice([
            "{day} {place} [can expect|gets|is in for|should see] {desc}, [topping out at|peaking at|rising to|reaching|going up to] {hi} [after a low of|from a low of|and dipping to|with a night at] {lo}",
            "{place} has {desc} [forecast|on the cards|in store|due] {day}, {span}",
            "{desc} {day} in {place}, {span}",
            "the [forecast|outlook] for {place} {day} [is|says|calls for] {desc}, {span}",
        ]), **v)
    return core, verdict


def core_days(c: Conversation, ask: Ask, place: str, rows: list[dict], start: dt.date) -> tuple[str, str | None, list[int]]:
    """(fact clause, verdict, days already covered) for a weekend or a range of days."""
    rng = c.rng
    first = ask.when.day
    idx = list(range(first, len(rows)))
    sel = [rows[i] for i in idx]
    label = "this weekend" if ask.when.kind == "weekend" else \
        rng.choice(["over the next", "for the next", "across the next", "in the coming", "through the next"]) + f" {number_word(len(rows))} days"
    v = {"place": place, "label": label, "min_hi": temp(min(r["hi"] for r in sel), ask), "max_hi": temp(max(r["hi"] for r in sel), ask),
         "min_lo": temp(min(r["lo"] for r in sel), ask), "max_lo": temp(max(r["lo"] for r in sel), ask),
         "max_pp": fmt(max(r["pp"] for r in sel))}
    # after "highs" or "lows": "highs of 12.0°C to 15.5°C", "lows between ..."
    spans = ["of {a} to {b}", "between {a} and {b}", "from {a} up to {b}", "spanning {a} to {b}", "of {a} through {b}", "of {a} at the least, {b} at the most"]
    v["hi_span"] = rng.choice(spans).format(a=v["min_hi"], b=v["max_hi"])
    v["lo_span"] = rng.choice(spans).format(a=v["min_lo"], b=v["max_lo"])
    focus = ask.focus
    if focus in ("wind", "humid"):
        noun = FOCUS_NOUN[focus]
        core = expand(rng, "the daily forecast carries no " + noun + " figures, so I can't say; {label} {place} has highs {hi_span}", **v)
        return core, "cant", []
    if focus != "general" and (ask.yesno or focus in ("rain", "snow", "storm")):
        marks = [(i, verdict_day(focus, rows[i])) for i in idx]
        hits = [i for i, m in marks if m == "yes"] or [i for i, m in marks if m == "partly"]
        verdict = "yes" if any(m == "yes" for _, m in marks) else "partly" if hits else "no"
        names = [day_name(c, start, i) for i in hits]
        if names:
            v["days"] = join(names) if len(names) <= 4 else \
                f"on all {number_word(len(idx))} days" if len(names) == len(idx) else f"on {number_word(len(names))} of the {number_word(len(idx))} days"
        noun = {"rain": "rain", "snow": "snow", "storm": "thunderstorms", "sun": "sunshine", "cloud": "cloud", "fog": "fog"}.get(focus)
        if verdict != "no":
            if noun is not None:
                likely = "likely" if verdict == "yes" else "possible"
                where_when = "{label}, " if ask.when.kind == "weekend" else ""
                core = expand(rng, rng.choice([
                    where_when + noun + (" [look|are] " if noun.endswith("s") else " [looks|is] ") + likely + " in {place} {days}",
                    where_when + "{place} [should get|can expect|is due] " + noun + " {days}",
                ]), **v)
                if focus in ("sun", "cloud", "fog"):
                    core += expand(rng, ", with highs {hi_span}", **v)
            else:
                word = {"hot": "hot", "warm": "warm", "cold": "cold"}[focus]
                core = expand(rng, "it turns " + word + " {days} in {place}, with highs {hi_span} and lows down to {min_lo}", **v)
        else:
            if focus == "rain":
                core = expand(rng, "{place} looks dry {label}; the highest chance of rain on any day is {max_pp}%", **v)
            elif noun is not None:
                core = expand(rng, "no " + noun + (" [show up|appear]" if noun.endswith("s") else " [shows up|appears]") + " in the forecast for {place} {label}", **v)
                if focus in ("sun", "cloud", "fog"):  # "will the sun be scorching?" asks about heat too
                    core += expand(rng, ", with highs {hi_span}", **v)
            else:
                core = expand(rng, "{place} stays between {min_lo} and {max_hi} {label}", **v)
        if ask.when.kind == "weekend" and "weekend" not in core:
            core = "this weekend " + core
        return core, verdict if ask.yesno else None, hits
    core = expand(rng, rng.choice([
        "{label} {place} has [highs|daytime highs|afternoon highs] {hi_span} and [lows|night-time lows|overnight lows] {lo_span}",
        "{place} [runs|swings|goes] from [lows of|nights at] {min_lo} to [highs of|a top of|days at] {max_hi} {label}",
        "[highs|daytime temperatures] in {place} [range|run] from {min_hi} to {max_hi} {label}, with [lows|night-time lows] {lo_span}",
        "{label} {place} [should see|gets|is in for] [days|afternoons] {hi_span}, [nights|lows] {lo_span}",
    ]), **v)
    return core, None, []


# ----------------------------------------------------------------------------- supporting facts

def now_details(c: Conversation, ask: Ask, now: dict, said: str) -> list[str]:
    """One or two more facts about current conditions, never repeating a figure already said."""
    rng = c.rng
    v = {"F": temp(now["apparent_temperature"], ask), "W": wind(now["wind_speed_10m"], ask), "H": fmt(now["relative_humidity_2m"]),
         "P": fmt(now["precipitation"]), "desc": now["weather_description"], "T": temp(now["temperature_2m"], ask)}
    options = {
        "feels": ["It feels like {F}[ out there| outside| on the skin|].", "[With the wind and damp|Counting the wind|Allowing for the air|To the skin], [it feels like|it comes across as|that's more like|you'd call it] {F}.",
                  "[Feels-like|The apparent temperature|What you'll actually feel] [is|comes to|sits at] {F}."],
        "wind": ["[The wind is|Wind is running at|Winds are at|Wind speed is] {W}.", "[Expect|You'll feel] [wind at|winds near|a breeze of|gusts around] {W}[ outside|]."],
        "humidity": ["[Humidity|Relative humidity|The humidity reading] [is|sits at|stands at|comes to] {H}%.",
                     "[The air holds|The air carries|There's|You'll feel] {H}% humidity[ at present| out there|].",
                     "{H}% humidity [on top of that|as well|besides]."],
        "temp": ["It's {T}[ with {desc}|].", "The temperature is {T}."],
    }
    if now["precipitation"] > 0:
        options["precip"] = ["{P} mm fell in the last hour.", "The last hour brought {P} mm."]
    keys = [k for k in options if {"feels": v["F"], "wind": v["W"], "humidity": v["H"] + "%", "temp": v["T"], "precip": v["P"] + " mm"}[k] not in said]
    keys = rng.sample(keys, k=min(len(keys), rng.choice([1, 1, 2])))
    return [expand(rng, rng.choice(options[k]), **v) for k in keys]


def day_details(c: Conversation, ask: Ask, rows: list[dict], start: dt.date, skip: set[int]) -> list[str]:
    """Day-by-day facts (up to five days) or a summary with the extremes (longer ranges)."""
    rng = c.rng
    show = [i for i in range(ask.when.day, len(rows)) if i not in skip]
    if not show:
        return []
    if len(show) <= 5:
        pattern = rng.choice(["{day}: {desc}, {lo} to {hi}", "{day} {desc}, up to {hi}", "{day}, {desc} ({lo} to {hi})", "{day} {desc}, {lo} at night, {hi} by day",
                              "{dayn} brings {desc}, up to {hi}", "{day}: high {hi}, low {lo}, {desc}", "{day} {lo} rising to {hi} under {desc}",
                              "{day}: {desc} and a top of {hi}", "{dayn} looks like {desc}, between {lo} and {hi}"])
        items = [pattern.format(day=day_name(c, start, i), dayn=day_name(c, start, i).removeprefix("on "), desc=rows[i]["desc"],
                                lo=temp(rows[i]["lo"], ask), hi=temp(rows[i]["hi"], ask)) for i in show]
        return [cap("; ".join(items)) + "."]
    out = []
    warm = max(show, key=lambda i: (rows[i]["hi"], -i))
    hi = rows[warm]["hi"]
    word = "hottest" if hi >= 27 else "warmest" if hi >= 12 else "least cold"
    out.append(expand(rng, "[The " + word + " day is|The " + word + " day comes|" + cap(word) + " of all is] {day}, at {hi}.",
                      day=day_name(c, start, warm), hi=temp(hi, ask)))
    cold = min(show, key=lambda i: (rows[i]["lo"], i))
    lo = rows[cold]["lo"]
    word = "coldest" if lo <= 12 else "coolest"
    out.append(expand(rng, "The " + word + " night [comes|is] {day}, [down to|at] {lo}.", day=day_name(c, start, cold), lo=temp(lo, ask)))
    wettest = max(show, key=lambda i: (rows[i]["psum"], -i))
    if rows[wettest]["psum"] > 0:
        kind = "snow" if rows[wettest]["weather_code"] in weather.SNOW_CODES else "rain"
        out.append(expand(rng, rng.choice([
            "The [most|heaviest] " + kind + " [falls|comes|is due] {day}, [about|around|some] {psum} mm.",
            "{Day} [is the wettest|looks wettest|brings the most " + kind + "], [about|with about|at] {psum} mm.",
            "[Expect|Look for] the [heaviest|biggest] " + kind + " {day}: {psum} mm.",
        ]), day=day_name(c, start, wettest), Day=cap(day_name(c, start, wettest).removeprefix("on ")), psum=fmt(rows[wettest]["psum"])))
    else:
        out.append(rng.choice(["No rain is forecast on any of those days.", "It stays dry throughout.", "Not a wet day among them.",
                               "Every day of it looks dry.", "Rain stays out of the picture."]))
    rng.shuffle(out)
    return out[: rng.choice([2, 3])]


# ----------------------------------------------------------------------------- moods and the voice around the facts


def mood_now(now: dict) -> str:
    mood = mood_of(now["weather_code"], now["temperature_2m"], now["wind_speed_10m"])
    hour = int(now["time"][11:13])  # the place's own clock
    # After dark a fair or hot reading gets no sunscreen, shade or picnic advice.
    return "night" if (hour < 6 or hour >= 20) and mood in ("fair", "hot") else mood


def mood_of(code: int, t: float, wind_kmh: float = 0.0) -> str:
    if code in weather.SNOW_CODES:
        return "snow"
    if code == 95:
        return "thunder"
    if code not in weather.DRY_CODES:
        return "wet"
    if t <= 5:
        return "cold"
    if t >= 28:
        return "hot"
    if wind_kmh >= 35:
        return "windy"
    if code in (0, 1, 2):
        return "fair"
    return "fog" if code == 45 else "mild"


def mood_rows(rows: list[dict]) -> str:
    codes = [r["weather_code"] for r in rows]
    if any(x == 95 for x in codes):
        return "thunder"
    if any(x in weather.SNOW_CODES for x in codes):
        return "snow"
    if sum(x not in weather.DRY_CODES for x in codes) * 2 >= len(codes):
        return "wet"
    if max(r["hi"] for r in rows) >= 30:
        return "hot"
    if min(r["lo"] for r in rows) <= 0:
        return "cold"
    return "fair" if all(x in (0, 1, 2) for x in codes) else "mild"


ADVICE = {
    "wet": ["[Take|Bring|Carry] [an umbrella|a rain jacket|waterproof shoes][ if you head out| for any errands|].",
            "[Keep|Have] [an umbrella|a waterproof] [handy|within reach|in your bag][ just in case|]."],
    "snow": ["[Roads and pavements|Pavements|Roads] [may be|could be] [slippery|icy][, so allow extra travel time|; take care when walking|].",
             "[Wear|Put on] [boots with a good grip|warm waterproof boots][ if you go out|]."],
    "thunder": ["[Stay indoors during the storms|Avoid open ground and tall trees during thunderstorms|Keep an eye out for lightning][ if you can|]."],
    "cold": ["[Dress|Wrap up] [warmly|in layers][, with a hat and gloves|, especially in the morning|].",
             "[A warm coat|A heavy jacket|Thermal layers] [would be|will be] [a good idea|worth it|sensible][ if you head out|]."],
    "hot": ["[Drink plenty of water|Stay hydrated|Keep a water bottle with you|Carry water] and [seek shade|avoid the midday sun|wear sunscreen|stay out of the afternoon heat][ in the afternoon|].",
            "[Plan outdoor errands|Save the walking|Do anything strenuous] [for the morning|before noon|for the cooler evening][, when it's less fierce|].",
            "[Light clothing|Loose, light clothes] and [sunscreen|a hat] [are|would be] [a good idea|sensible][ if you're outside|]."],
    "windy": ["[Expect|Watch for] [strong|gusty] [winds|gusts][; secure loose items outdoors| on exposed ground|]."],
    "fair": ["[It's|It looks like] [a good|a fine|a decent] [day|time|spell] for [a walk|being outdoors|a picnic|a bike ride|errands on foot].",
             "[No umbrella needed|Leave the umbrella behind|Skip the umbrella|No need for a brolly][ today| this time|].",
             "[Sunglasses|A hat|Sunscreen] [may be|could be|might be] [useful|worth packing|handy] [if you're out for long|later on|around midday]."],
    "night": ["[The sun is down|It's dark out now|It's night there], so [dress for the temperature|a layer for later is plenty|no sun protection is needed][ if you head out|]."],
    "mild": ["[A light jacket|A light layer|A sweater] [should be enough|will do|is plenty][ if you head out|]."],
    "fog": ["[Visibility may be poor|Fog can cut visibility], so [drive carefully|allow extra time on the roads|take care on the roads]."],
}

ONION_SUBJECTS = ["{Place} Residents", "Commuters In {Place}", "{Place} Dog Walkers", "Office Workers In {Place}", "{Place} Parents",
                  "Meteorologists In {Place}", "{Place} Cyclists", "Tourists In {Place}", "{Place} Retirees", "{Place} Teenagers",
                  "Local Men In {Place}", "{Place} Bus Drivers", "Joggers In {Place}", "{Place} Gardeners", "Pigeons Of {Place}"]
# predicates in three composable parts (plural verbs: every subject is plural)
ONION_PREDICATES = {
    "wet": (["Brace For", "Resigned To", "Quietly Accept", "Hold Emergency Meeting About", "Formally Object To", "Pretend To Enjoy"],
            ["Rain", "Damp Socks", "Sky Leaking Again", "Water Falling From Above", "Another Soggy Commute", "Puddle Season"],
            ["", "", "", ", Forget Umbrellas", ", Stay Home", ", Blame Each Other", " With Visible Reluctance", ", Demand Refund",
             ", Cancel Everything", ", Wring Out Socks", " Despite Owning Umbrellas"]),
    "snow": (["Cautiously Optimistic About", "Openly Divided Over", "Immediately Complain About", "Locate Shovels Ahead Of", "Photograph"],
             ["Snow Day", "Snow", "White Stuff On Cars", "Unplowed Pavements"], ["", "", ", Officials Silent", " Before Breakfast"]),
    "thunder": (["Advised To Hide From", "Count Seconds Between", "Unplug Everything Ahead Of", "Stay Indoors Through"],
                ["Loud Sky Noises", "Flashes", "Thunderstorms", "Afternoon Storms"], ["", ", Lose Count", ", Just In Case", ", Dog In Charge"]),
    "cold": (["Insist It's Fine", "Dig Out Coats", "Debate Gloves", "Report Visible Breath", "Negotiate With Radiators",
              "Deny Feeling Chilly", "Hug Radiators"], ["", " Moments Before Losing Feeling In Fingers", " With Visible Reluctance", " For Third Time Today",
              " Amid Chill"], ["", "", ", Deny Everything", ", Blame Wind"]),
    "hot": (["Demand Answers From", "Queue To Escape", "Hide From", "File Complaint About", "Negotiate With", "Wilt Under"],
            ["Sun", "Heat", "Afternoon Sun", "Scorching Pavements"], ["", "", ", Sun Declines Comment", ", Do Nothing, Slowly"]),
    "windy": (["Lose Hats To", "Chase Recycling Bins Through", "Report Umbrellas Defeated By", "Lean Into"],
              ["Gusts", "Wind", "Strong Breeze", "Aggressive Air"], ["", "", ", Dignity", ", Give Up On Hair"]),
    "fair": (["Stare Longingly At", "Suspicious Of", "Baffled By", "Quietly Enjoy", "Celebrate", "Refuse To Trust", "Photograph",
              "Grudgingly Admit Liking", "Take Long Lunches Over"],
             ["Pleasant Weather", "Perfectly Fine Sky", "Good Weather", "Sunny Day", "Nice Afternoon"],
             ["", "", " Through Office Window", ", Await Catch", " From Desks", ", Cancel Moaning"]),
    "mild": (["Report Weather Exists,", "Call Day 'Fine',", "Shrug At Sky,", "Find No Fault With Sky,", "Give Sky Lukewarm Review,",
              "Note Weather, Move Along,"], [""], [" Offer No Further Comment", " Keep Trying", " Return To Work", " Remain Unmoved",
              " Ask For Something More Interesting"]),
    "fog": (["Unable To See", "Wave At Strangers Hidden By", "Lose Track Of Buildings In"], ["Fog", "Grey Murk", "Across The Street"], ["", ", Carry On"]),
}


ONION_QUOTES = {
    "wet": ["I specifically washed my car for this", "I'll just run between the drops", "I'm choosing to see it as a free shower",
            "The umbrella lasted four minutes", "I've stopped pretending my shoes are waterproof", "The dog refuses to go out and I respect that",
            "My shoes have made their feelings clear", "I own four umbrellas and all of them are at the office",
            "At this point I'm more puddle than person"],
    "snow": ["I'm not shovelling until someone else does", "It's beautiful, and I hate it", "The kids have already unionised for a day off",
             "I've been told the car is under there somewhere"],
    "thunder": ["I've decided the dog is in charge now", "I was told there'd be a light show, not a lecture",
                "I unplugged the toaster, and honestly I feel safer", "The cat knew before any of us"],
    "cold": ["I'm fine, this is fine", "Nobody warned me about my ears", "I can no longer feel the keys in my pocket, or my pocket",
             "I've started negotiating with my radiator", "I refuse to be the first on my street to wear a hat"],
    "hot": ["I've stopped making plans that involve moving", "The pavement is now a stovetop", "I have been standing in the freezer aisle for an hour",
            "My sunglasses are sweating", "I'd complain, but that takes energy"],
    "windy": ["That was a very expensive hat", "My umbrella has gone to a better place", "I went out with a bin and came back with a neighbour's",
              "I've given up on my hair entirely"],
    "fair": ["I don't trust it", "I keep waiting for the catch", "Something this nice usually comes with a bill",
             "I've had to cancel an entire afternoon of moaning", "I've put sunglasses on and I feel like a fraud",
             "Everyone is being pleasant and it's unsettling", "I went outside on purpose, which is a first",
             "I've had to find new things to be annoyed about", "My umbrella feels abandoned"],
    "mild": ["It's weather, I suppose", "I had a complaint ready and nowhere to use it", "It's neither here nor there, much like me",
             "I put on a jacket, took it off, and put it back on", "Honestly, I've seen worse and I've seen better"],
    "fog": ["I walked into my own car", "I'm told the city is still there", "I waved at a lamppost for a full minute"],
}
ONION_ROLES = ["area resident", "local commuter", "retired dentist", "dog owner", "office manager", "cyclist", "part-time notary",
               "bus driver", "cafe owner", "amateur gardener", "self-described outdoors person", "substitute teacher", "area librarian",
               "regional sales manager", "local resident", "area shopkeeper", "neighbourhood watch member"]
ONION_FIRST = ["Dana", "Gary", "Priya", "Walt", "Maribel", "Tom", "Jess", "Kyle", "Renata", "Howard", "Aisha", "Bernard", "Lucía", "Doug"]
ONION_LAST = ["Kowalski", "Pruitt", "Raman", "Henning", "Ortiz", "Aldine", "Okafor", "Brandt", "Lindqvist", "Mbeki", "Fairweather",
              "Castellano", "Hughes", "Nakamura"]
ONION_VERBS = ["said", "told reporters", "added", "admitted", "explained", "confirmed", "noted", "sighed"]
ONION_TAILS = [""] * 40 + [", hands in pockets", ", shrugging", ", from a doorway", ", on a lunch break", ", who had not checked the forecast", ", visibly tired", ", from behind a window", ", clutching a thermos",
                           ", mid-errand", ", from a bus shelter", ", between sips of coffee", ", after some hesitation"]


def onion_headline(rng: random.Random, place: str, mood: str) -> str:
    if place[:1].islower():  # "your area": no name to put in a headline
        subject = rng.choice(["Area Residents", "Local Campers", "Nearby Hikers", "Local Commuters", "Area Dog Walkers"])
    else:
        subject = rng.choice(ONION_SUBJECTS).replace("{Place}", place)
    verb, obj, tail = (rng.choice(part) for part in ONION_PREDICATES.get(mood, ONION_PREDICATES["mild"]))
    return re.sub(r"\s+", " ", f"{subject} {verb} {obj}{tail}").replace(" ,", ",").strip(" ,")


ONION_COMPOSED = [
    "[I had planned to|I was going to|Honestly, I meant to|My plan was to|I'd promised myself I'd] [stay in and complain|mow the lawn|wash the car|do nothing at all|"
    "fix the gutter|walk to work|repaint the gate|sort the garage] [, and now|, but now|, so now|, which means] [I'm at a loose end|that's ruined|"
    "I've run out of excuses|I'm out of excuses|I have no excuse left|I have to rethink everything|my whole week is off|the afternoon is a write-off|I need a new plan|nobody believes me]",
    "[My neighbour|My husband|My wife|My boss|My mother|The dog] [says|insists|swears|keeps telling me] [it's fine|it'll clear up|it's my fault|"
    "this is normal|I'm overreacting] [, and frankly|, but honestly|, and to be fair|, though] [I'm not convinced|they may be right|I've heard that before|"
    "I've stopped listening|I've given up arguing]",
    "[Frankly|Look|Between you and me|To be honest], [I blame|I'm holding responsible|I've written to] [the council|my landlord|the sky|the mayor|"
    "whoever runs this|the weather people|the government|my neighbour's wind chimes] [and I expect|and I want|and I'm demanding] [an apology|answers|a refund|a full inquiry]",
    "[I checked|I looked at|I refreshed] [three apps|the forecast|my phone|the radio] [twice|all morning|before breakfast|on the bus] [and I still|and somehow I|"
    "yet I] [got it wrong|wore the wrong shoes|picked the wrong coat|ended up surprised|left the washing out|forgot my hat]",
]


def onion_witness(rng: random.Random, mood: str) -> str:
    """An invented witness with a deadpan quote (no ages: every number in an answer comes from a tool)."""
    if rng.random() < 0.65:
        quote = expand(rng, rng.choice(ONION_COMPOSED)).replace(" ,", ",")
    else:
        quote = rng.choice(ONION_QUOTES.get(mood, ONION_QUOTES["mild"]))
    tail = rng.choice(ONION_TAILS)
    who = f"{rng.choice(ONION_ROLES)} {rng.choice(ONION_FIRST)} {rng.choice(ONION_LAST)}{tail}"
    verb = rng.choice(ONION_VERBS)
    if rng.random() < 0.5:
        if verb == "told reporters":
            return f"\u201c{quote},\u201d {who}{',' if tail else ''} told reporters."
        return f"\u201c{quote},\u201d {verb} {who}."
    return f"{cap(who)}{',' if tail else ''} {verb}: \u201c{quote}.\u201d"


def voiced(c: Conversation, lead_core: str, verdict: str | None, facts: list[str], mood: str, place: str) -> str:
    """The whole answer: the first sentence answers (verdict or the variable asked about), then the
    other facts, then the voice: a persona line for the mood, advice, or an Onion witness."""
    rng, p = c.rng, c.persona
    if verdict in ("yes", "no", "partly"):
        lead = f"{verdict_word(c, verdict)}: {lead_core}."
    elif verdict == "same":
        lead = f"{cap(lead_core)}."
    elif verdict == "cant":
        lead = f"{cap(lead_core)}."
    else:
        frame = "{core}" if rng.random() < 0.45 else rng.choice(p.frames)
        lead = cap(expand(rng, frame, core=lead_core)) + "."
    parts = [lead] + facts
    if p.name == "onion":
        parts.append(onion_witness(rng, mood))
        return onion_headline(rng, place, mood) + "\n\n" + " ".join(parts)
    if p.humorous:
        pool = p.lines.get(mood if mood in p.lines else "any") or p.lines["any"]
        if rng.random() < 0.12:
            pool = p.lines["any"]
        parts.append(expand(rng, rng.choice(pool), place=place))
        if rng.random() < 0.15 and mood in ADVICE:
            parts.append(expand(rng, rng.choice(ADVICE[mood])))
    elif rng.random() < 0.7 and mood in ADVICE:
        parts.append(expand(rng, rng.choice(ADVICE[mood])))
    return " ".join(parts)


def answer(c: Conversation, ask: Ask, place: str, payload: dict) -> list[int]:
    """Say the answer to `ask` from a current or forecast payload; returns the forecast days covered."""
    rng = c.rng
    if "current" in payload:
        now = payload["current"]
        core, verdict = core_now(c, ask, place, now)
        facts = now_details(c, ask, now, core) if rng.random() < 0.8 else []
        c.say(voiced(c, core, verdict, facts, mood_now(now), place))
        return []
    rows = rows_of(payload)
    start = dt.date.fromisoformat(rows[0]["time"])
    if ask.when.kind in ("weekend", "range"):
        core, verdict, hits = core_days(c, ask, place, rows, start)
        facts = day_details(c, ask, rows, start, set())
        c.say(voiced(c, core, verdict, facts, mood_rows(rows[ask.when.day:]), place))
        return list(range(len(rows)))
    core, verdict = core_day(c, ask, place, rows, start)
    row = rows[ask.when.day]
    facts = []
    if ask.focus not in ("wind", "humid") and row["pp"] > 0 and "%" not in core and rng.random() < 0.5:
        facts.append(expand(rng, rng.choice([
            "[The chance of rain is|Rain chances are|The rain risk is|Rain odds stand at|The odds of a shower are] {pp}%[ that day| for the day|].",
            "[Rain|A shower|Some rain] [has|carries|comes with] {a} {pp}% [chance|likelihood|probability][ that day|].",
            "[Put|Call|Count] the [rain|shower] [odds|chances|risk] at {pp}%.",
        ]), pp=fmt(row["pp"]), a=article(fmt(row["pp"]))))
    c.say(voiced(c, core, verdict, facts, mood_of(row["weather_code"], row["hi"]), place))
    return [ask.when.day]


# ----------------------------------------------------------------------------- tool rounds


def geocode_call(c: Conversation, m: phrasing.Mention) -> tuple[str, dict, dict]:
    return ("geocode_location", m.args, weather.geocode_result(gazetteer.geocode_all(m.args["city"], m.args.get("country"))))


def weather_call(c: Conversation, city: gazetteer.City, ask: Ask) -> tuple[str, dict, dict]:
    if ask.when.kind == "now":
        # The conversation's moment is one instant (read as UTC); each place reports it on its own clock,
        # as Open-Meteo's timezone=auto does: Ottawa at 07:00 is Kigali at 13:00.
        # The date stays the conversation's (its forecasts and "today" are dated so), the time of day is the place's.
        here = dt.datetime.combine(c.now.date(), localtime.local(c.now, localtime.city_zone(city)).time())
        return ("get_current_weather", {"latitude": city.latitude, "longitude": city.longitude}, weather.current(city, here, c.world))
    return ("get_forecast", {"latitude": city.latitude, "longitude": city.longitude, "days": ask.when.days},
            weather.forecast(city, c.now.date(), ask.when.days, c.world))


def named(c: Conversation, city: gazetteer.City, ask: Ask, user_text: str, m: phrasing.Mention) -> dict:
    c.user(user_text)
    c.call(*geocode_call(c, m))
    payload = c.call(*weather_call(c, city, ask))
    answer(c, ask, city.name, payload)
    return payload


# ----------------------------------------------------------------------------- scenarios


def scenario_geocode_then_weather(c: Conversation, tags: dict) -> None:
    city = pick_city(c)
    ask, template = choose_ask(c)
    lower = c.rng.random() < 0.3
    m = phrasing.mention(c.rng, city, lower=lower)
    named(c, city, ask, question(c, ask, m.text, template, lower), m)
    tags.update(variant=ask.when.kind, focus=ask.focus)
    if ask.when.days:
        tags["days"] = ask.when.days


def coordinates_text(c: Conversation, city: gazetteer.City) -> str:
    return expand(c.rng, c.rng.choice(["{lat}, {lon}", "[lat|latitude] {lat}, [lon|longitude] {lon}", "({lat}, {lon})"]),
                  lat=fmt(city.latitude), lon=fmt(city.longitude))


def scenario_coordinates(c: Conversation, tags: dict, current: bool) -> None:
    rng = c.rng
    city = pick_city(c)
    ask, _ = choose_ask(c, ("now",) if current else ("day", "range"), focus="general")
    coords = coordinates_text(c, city)
    pool = ["What's the weather at {p}{w}?", "weather at {p}{w}", "I'm at {p}. What's it like{w}?", "My GPS says {p}. Conditions{w}?",
            "forecast for {p}{w}", "Camping at {p}: weather{w}?", "{p}{w}, weather please"]
    c.user(mess(rng, fill(c.pick(pool), coords, ask.when.text), rng.random() < 0.3))
    payload = c.call(*weather_call(c, city, ask))
    answer(c, ask, rng.choice(["your area", "that area", "your spot"]), payload)
    tags.update(variant="coordinates")
    if ask.when.days:
        tags["days"] = ask.when.days


def scenario_current(c: Conversation, tags: dict) -> None:
    scenario_coordinates(c, tags, True)


def scenario_forecast(c: Conversation, tags: dict) -> None:
    scenario_coordinates(c, tags, False)


def scenario_compare(c: Conversation, tags: dict) -> None:
    """Two places in one question: both geocoded in one turn, then both weather calls in one turn."""
    rng = c.rng
    a = pick_city(c)
    b = pick_city(c, avoid=(a.name,))
    lower = rng.random() < 0.3
    ma, mb = phrasing.mention(rng, a, lower), phrasing.mention(rng, b, lower)
    now = rng.random() < 0.6
    when = phrasing.When("now", text=rng.choice(["", "right now", "today"]) if now else "", label="right now") if now else \
        phrasing.pick_when(rng, c.today, ("day",))
    ask = Ask(when, "warm", True, fahrenheit=rng.random() < 0.08)
    pool = ["Is it warmer in {a} or {b}{w}?", "which is warmer{w}, {a} or {b}?", "{a} vs {b} weather{w}?", "Compare {a} and {b}{w}.",
            "Where's it warmer{w}: {a} or {b}?", "is {a} warmer than {b}{w}", "Should I go to {a} or {b}{w} if I want the warmer one?",
            "which is nicer{w}, {a} or {b}"]
    chosen = c.pick(pool)
    text = phrasing.fill_time(chosen, when.text).replace("{a}", ma.text).replace("{b}", mb.text)
    c.user(mess(rng, text, lower))
    c.calls([geocode_call(c, ma), geocode_call(c, mb)])
    pa, pb = c.calls([weather_call(c, a, ask), weather_call(c, b, ask)])
    if now:
        ta, tb = pa["current"]["temperature_2m"], pb["current"]["temperature_2m"]
        da, db = pa["current"]["weather_description"], pb["current"]["weather_description"]
        label = "right now"
    else:
        i = when.day
        ta, tb = pa["daily"]["temperature_2m_max"][i], pb["daily"]["temperature_2m_max"][i]
        da, db = pa["daily"]["weather_description"][i], pb["daily"]["weather_description"][i]
        label = when.label
    v = {"a": a.name, "b": b.name, "ta": temp(ta, ask), "tb": temp(tb, ask), "da": da, "db": db, "when": label,
         "high": "" if now else rng.choice(["a high of ", "a top of ", "highs of ", "a maximum of "])}
    if abs(ta - tb) < 0.05:
        core = expand(rng, "{a} and {b} are level {when}, both at {ta}: {da} in {a}, {db} in {b}", **v)
    else:
        warm, cool = (a, b) if ta > tb else (b, a)
        v |= {"w": warm.name, "l": cool.name, "tw": v["ta"] if warm is a else v["tb"], "tl": v["tb"] if warm is a else v["ta"],
              "dw": da if warm is a else db, "dl": db if warm is a else da}
        core = expand(rng, rng.choice([
            "{w} is warmer {when}: {high}{tw} with {dw}, against {tl} and {dl} in {l}",
            "{w} wins {when}, at {high}{tw} to {l}'s {tl}; {dw} in {w}, {dl} in {l}",
            "{w} is the warmer of the two {when}, {high}{tw} against {tl} in {l}, with {dw} there and {dl} in {l}",
        ]), **v)
    mood = mood_of(pa["current"]["weather_code"] if now else pa["daily"]["weather_code"][when.day], ta)
    verdict = None
    if chosen.lower().startswith("is {a}"):  # a yes/no question: is A warmer than B?
        verdict = "yes" if ta > tb else "no"
    c.say(voiced(c, core, verdict, [], mood, a.name))
    tags.update(variant="now" if now else "day")
    if not now:
        tags["days"] = when.days


def scenario_ambiguous_place(c: Conversation, tags: dict) -> None:
    """The geocoder returns several places of one name; hint, question or a stated choice."""
    rng = c.rng
    name = rng.choice([n for n in gazetteer.AMBIGUOUS if phrasing.in_split(n, c.split)] or list(gazetteer.AMBIGUOUS))
    places = gazetteer.HOMONYMS[name]
    ask, template = choose_ask(c, ("now", "day"))
    variant = rng.choice(["hint", "ask", "ask", "first"])
    lower = rng.random() < 0.3
    target = rng.choice(places) if variant != "first" else places[0]
    hint = (target.admin1 if target.country == "United States" else target.country) if variant == "hint" else None
    if variant == "hint" and target.country == "United States":
        hint = rng.choice([target.admin1, {"Oregon": "OR", "Maine": "ME", "California": "CA"}.get(target.admin1, target.admin1)])
    text_name = name.lower() if lower else name
    place_words = f"{text_name}, {hint}" if hint else text_name
    args = {"city": name}
    if hint and hint == target.country:
        args["country"] = target.country
    c.user(question(c, ask, place_words, template, lower))
    found = gazetteer.geocode_all(name, args.get("country"))
    c.call("geocode_location", args, weather.geocode_result(found))
    tags.update(variant=variant)
    if variant == "ask" and len(found) > 1:
        options = [f"{p.name}, {p.admin1}" + (f" ({p.country})" if p.country not in ("United States",) else "") for p in found]
        q = expand(rng, rng.choice([
            "There's more than one {n}: {o}. Which do you mean?",
            "I found [several|two] places called {n}: {o}. Which one?",
            "{n} could be {o}; which should I check?",
        ]), n=name, o=" or ".join(options))
        if c.persona.name == "twain":
            q = expand(rng, "[There are|I count] more [places|towns] named {n} than [a man can keep straight|one name can carry]: {o}. Which [one|do you mean]?", n=name, o=" or ".join(options))
        elif c.persona.name == "franklin":
            q = expand(rng, "[The name|That name] {n} serves [more than one town|several places]: {o}. Which, [friend|neighbour]?", n=name, o=" or ".join(options))
        elif c.persona.name == "onion":
            q = expand(rng, "Two Cities Named {n} Refuse To Back Down\n\nThe geocoder returned {o}. Which one, [sources asked|the desk asked]?", n=name, o=" or ".join(options))
        c.say(q)
        reply_words = target.admin1 if rng.random() < 0.7 else f"the one in {target.admin1 if target.country == 'United States' else target.country}"
        c.user(mess(rng, c.pick(["{r}", "{r} please", "the {r} one", "{r}, sorry", "I meant {r}"]).replace("{r}", reply_words).replace("the the", "the"), lower))
    payload = c.call(*weather_call(c, target, ask))
    place = f"{target.name}, {target.admin1 if target.country == 'United States' else target.country}"
    answer(c, ask, place, payload)
    if variant == "first" and len(found) > 1:
        other = found[1]
        note = expand(rng, "[That's|I took] {n} in {a1}; if you meant the one in {a2}, [say so|tell me] and I'll check [it|that one].",
                      n=name, a1=target.admin1, a2=other.admin1 if other.country == target.country else f"{other.admin1}, {other.country}")
        c.messages[-1]["content"] += " " + note
    if ask.when.days:
        tags["days"] = ask.when.days


FOLLOW_PLACE = ["And {p}?", "what about {p}", "How about {p}?", "and in {p}", "same for {p}", "Now {p}, please.", "ok and {p}?"]
FOLLOW_NEXT_DAY = ["And the day after?", "what about the day after", "and the next day?", "How about the following day?"]
FOLLOW_TOMORROW = ["And tomorrow?", "what about tomorrow", "Will it be any different tomorrow?", "and tmrw?", "OK, and tomorrow there?"]
FOLLOW_FOCUS = {"rain": ["Will it rain there?", "any rain there", "Do I need an umbrella there?"],
                "wind": ["Is it windy there?", "how windy is it there", "what's the wind doing there"],
                "cold": ["Is it cold there?", "do I need a coat there", "how cold is it there?"]}
FOLLOW_UNITS = ["In Fahrenheit please?", "can you give that in fahrenheit", "what's that in F?"]
THANKS = ["thanks!", "Thanks, that's all.", "cheers", "Great, thank you.", "perfect, thx", "OK thanks, bye.", "Thank you!", "ty"]


def farewell(c: Conversation) -> str:
    return expand(c.rng, c.rng.choice(c.persona.farewells))


def scenario_multi_turn(c: Conversation, tags: dict) -> None:
    """Three to five user turns; each later one leans on an earlier one (there, the day after, another city)."""
    rng = c.rng
    city = pick_city(c)
    lower = rng.random() < 0.35
    if rng.random() < 0.3:  # opens without a place: the assistant asks where
        c.user(mess(rng, c.pick(["What's the weather like?", "is it going to rain?", "Do I need a jacket today?", "weather pls",
                                 "how cold is it outside?", "what's it doing out there"]), lower))
        c.say(ask_where(c))
        m = phrasing.mention(rng, city, lower)
        c.user(mess(rng, c.pick(["{p}", "I'm in {p}", "{p}, please.", "in {p}", "It's for {p}."]).replace("{p}", m.text), lower))
        ask = Ask(When("now", label="right now"), "general")
        c.call(*geocode_call(c, m))
        payload = c.call(*weather_call(c, city, ask))
        answer(c, ask, city.name, payload)
        tags["variant"] = "clarify_place"
    else:
        ask, template = choose_ask(c, ("now", "day"))
        m = phrasing.mention(rng, city, lower)
        payload = named(c, city, ask, question(c, ask, m.text, template, lower), m)
        tags["variant"] = "dialogue"
    known = {city.name: city}  # places whose coordinates the conversation already holds
    forecasts: dict[str, dict] = {}
    currents: dict[str, dict] = {}
    (forecasts if "daily" in payload else currents)[city.name] = payload
    turns = rng.choice([2, 2, 3])  # three or four user turns (five with a thanks), within 2,048 tokens
    for _ in range(turns):
        move = rng.choice(["next_day", "place", "focus", "units", "place", "next_day"])
        weather_calls = sum(tc["function"]["name"] in ("get_current_weather", "get_forecast")
                            for m in c.messages for tc in m.get("tool_calls") or [])
        size = sum(len(m.get("content") or "") + len(json.dumps(m.get("tool_calls") or "")) for m in c.messages)
        # A dialogue stays within 2,048 tokens with the tools block: about 3,000 characters of messages
        # (tool results are dense JSON), so a further weather round only while under 2,000.
        if (weather_calls >= 3 or size > 2000) and move != "units":
            move = "units" if rng.random() < 0.5 else "stop"
        if move == "units" and size > 2600:
            move = "stop"
        if move == "stop":
            break
        if move == "next_day":
            day = ask.when.day + 1 if ask.when.kind != "now" else 1
            if day > 13:
                move = "place"
            else:
                text = c.pick(FOLLOW_TOMORROW if day == 1 else FOLLOW_NEXT_DAY)
                new = replace(ask, when=When("day", day, day + 1, "", day_name(c, c.now.date(), day)), yesno=False, focus="general", comparative=False)
                c.user(mess(rng, text, lower))
                fc = forecasts.get(city.name)
                if fc is None or len(fc["daily"]["time"]) <= day:
                    fc = c.call(*weather_call(c, city, new))
                    forecasts[city.name] = fc
                else:  # the forecast already on the table covers it: no call
                    new = replace(new, when=replace(new.when, days=len(fc["daily"]["time"])))
                answer(c, new, city.name, fc)
                ask = new
                continue
        if move == "place":
            other = pick_city(c, avoid=tuple(known))
            m = phrasing.mention(rng, other, lower)
            c.user(mess(rng, c.pick(FOLLOW_PLACE).replace("{p}", m.text), lower))
            c.call(*geocode_call(c, m))
            payload = c.call(*weather_call(c, other, ask))
            (forecasts if "daily" in payload else currents)[other.name] = payload
            answer(c, ask, other.name, payload)
            known[other.name] = other
            city = other
            continue
        if move == "focus":
            focus = rng.choice(sorted(FOLLOW_FOCUS))
            new = replace(ask, focus=focus, yesno=True, comparative=False, mph=False)
            if focus == "wind" and new.when.kind != "now":
                new = replace(new, when=When("now", label="right now"))
            c.user(mess(rng, c.pick(FOLLOW_FOCUS[focus]), lower))
            fc = forecasts.get(city.name)
            if new.when.kind == "now" and city.name in currents:  # the conditions already on the table: no call
                answer(c, new, city.name, currents[city.name])
            elif new.when.kind != "now" and fc is not None and len(fc["daily"]["time"]) > new.when.day:
                new = replace(new, when=replace(new.when, days=len(fc["daily"]["time"])))
                answer(c, new, city.name, fc)
            else:
                payload = c.call(*weather_call(c, city, new))
                (forecasts if "daily" in payload else currents)[city.name] = payload
                answer(c, new, city.name, payload)
            ask = new
            continue
        # units: the same figures again in °F, from the last tool result (no new call)
        c.user(mess(rng, c.pick(FOLLOW_UNITS), lower))
        new = replace(ask, fahrenheit=True, yesno=False)
        last = json.loads(next(m["content"] for m in reversed(c.messages) if m["role"] == "tool"))
        answer(c, new, city.name, last)
        ask = new
    if rng.random() < 0.3 and sum(len(m.get("content") or "") for m in c.messages) < 2800:
        c.user(mess(rng, c.pick(THANKS), lower))
        c.say(farewell(c))


def ask_where(c: Conversation) -> str:
    rng, p = c.rng, c.persona
    base = expand(rng, rng.choice([
        "[Which city|Which place|Where] [are you asking about|should I check|do you mean]?",
        "[I need a place to look up|I'll need a town first|A city name would help]: [which one is it|where are you]?",
        "[Where are you|Which town is it]? [Tell me|Give me] the [city|name] and I'll [check|look it up][ right away|].",
    ]))
    if p.name == "twain":
        return expand(rng, rng.choice([
            "[I can't read|I can't report on|Nobody can forecast] [the sky over|the weather in] a town [I haven't been told|nobody has named|without a name]. ",
            "[Even a river pilot|A pilot] [needs to know|has to be told] [which river|which landing|where he's bound]. ",
            "[I'd need|I'll want] [a town|a name on the map|a place] [before I go asking the sky|to point my instruments at|to look up]. ",
        ])) + base
    if p.name == "franklin":
        return expand(rng, rng.choice([
            "[A forecast needs a place|A weather report wants a town], [as a letter needs an address|as a printer needs copy], [friend|neighbour]. ",
            "[Observation|Good observation] [begins with|starts from] [a location|a place on the map], [friend|neighbour|citizen]. ",
            "[I cannot|No man can] [observe|report on] [a sky|the weather] [I have not been given|without a town to put it over]. ",
        ])) + base
    if p.name == "onion":
        return expand(rng, "[Weather Desk|Newsroom|Reporters|Entire Staff] [Unable To Locate|Stumped By|Searching For|Baffled By] [User|Mystery Location|Unnamed Town|Reader's Whereabouts]\n\n"
                      "[Staff are standing by|Reporters have their coats on|Pencils have been sharpened|The van is warmed up|Notebooks are open] [, but|; sadly|, yet] [there is no address|nobody knows the city|the destination is blank|the map is empty]. ").replace(" ,", ",").replace(" ;", ";") + base
    return base


UNSUPPORTED = {
    "hourly": ["What will the weather be in {p} at 3 pm tomorrow?", "is it going to rain in {p} at 6 tonight", "hourly forecast for {p} tomorrow?",
               "What's the temperature in {p} going to be at noon tomorrow?", "will it be dry in {p} for the school run at 8 tomorrow"],
    "historical": ["What was the weather in {p} yesterday?", "how much did it rain in {p} last week", "Was it cold in {p} last night?",
                   "what was the temperature in {p} on Christmas day last year", "How hot did it get in {p} last summer?"],
    "uv": ["What's the UV index in {p} today?", "do i need sunscreen in {p}, what's the uv", "How strong is the sun in {p} today? UV index?"],
    "air": ["What's the air quality in {p}?", "pollen count in {p} today?", "Is the air clean in {p} right now?"],
}


def scenario_unsupported(c: Conversation, tags: dict) -> None:
    """Hourly, historical, UV and air-quality questions: honest about the tools, useful where it can be."""
    rng = c.rng
    kind = rng.choice(sorted(UNSUPPORTED))
    city = pick_city(c)
    lower = rng.random() < 0.3
    m = phrasing.mention(rng, city, lower)
    if kind == "historical" and rng.random() < 0.4:  # a real SNIPS question with its past date kept
        pool = phrasing.snips_for(c.split, time_kind="past")
        text = fill(rng.choice(pool).text, m.text, rng.choice([t.original_time for t in pool])) if pool else \
            fill(c.pick(UNSUPPORTED[kind]), m.text, "")
    elif kind == "hourly" and rng.random() < 0.4:
        pool = phrasing.snips_for(c.split, time_kind="hour")
        text = fill(rng.choice(pool).text, m.text, rng.choice(phrasing.HOUR_TIMES))
    else:
        text = fill(c.pick(UNSUPPORTED[kind]), m.text, "")
    c.user(mess(rng, text, lower))
    tags["variant"] = kind
    p = c.persona
    lead = {"twain": "[I'll be straight with you|I'd rather admit it than invent it]: ", "franklin": "[Candour first|An honest answer first], [friend|neighbour]: ",
            "onion": "[Weather Desk|Newsroom|Forecasting Team] [Admits|Concedes|Confesses] [Limits|It Can't Do Everything|Some Gaps In Coverage]\n\n", "neutral": ""}[p.name]
    if kind == "hourly":
        day = 1 if re.search(r"\b(tomorrow|tmrw)\b", text.lower()) else 0
        tonight = day == 0 and "tonight" in text.lower()
        focus = next((phrasing._FOCUS_OF[w] for w in re.findall(r"[a-z]+", text.lower()) if w in phrasing._FOCUS_OF), "general")
        if focus == "general" and re.search(r"\btemperature\b", text.lower()):
            focus = "cold"
        ask = Ask(When("tonight" if tonight else "day", day, day + 1, "", "tonight" if tonight else "tomorrow" if day else "today"), focus,
                  yesno=bool(phrasing.YESNO_START.match(text)) and focus != "general")
        c.call(*geocode_call(c, m))
        payload = c.call(*weather_call(c, city, ask))
        rows = rows_of(payload)
        core, verdict = core_day(c, ask, city.name, rows, dt.date.fromisoformat(rows[0]["time"]))
        caveat = expand(rng, "[I only get daily figures, not hourly ones|My forecast comes by the day, not by the hour|The tools give the whole day, not single hours], "
                        "so [that is the day as a whole|I can't pin down that hour|that covers the whole day, not that hour].")
        if p.name == "twain":
            caveat += " " + expand(rng, "[I'd sooner admit that than guess|A guess dressed as an hourly forecast is still a guess], [and I have seen enough of those|and the newspapers print plenty already].")
        elif p.name == "franklin":
            caveat += " " + expand(rng, "[Better an honest day than a doubtful hour|A whole fact is worth more than half a guess].")
        if verdict in ("yes", "no", "partly"):
            lead_text = f"{verdict_word(c, verdict)}: {core}."
        else:
            lead_text = cap(core) + "."
        if p.name == "onion":
            lead_text = expand(rng, "[Weather Desk|Newsroom] [Unable To Confirm|Declines To Guess] [Specific Hour|Exact Time], [Offers|Provides] [Entire Day|Whole Day] Instead") + "\n\n" + lead_text
        c.say(lead_text + " " + caveat)
        tags["days"] = day + 1
        return
    if kind == "historical":
        text = expand(rng, lead + "[I can't look back|I have no records of past weather]: my tools give current conditions and forecasts up to "
                      "[fourteen days|two weeks] ahead, [not history|nothing from the past]. [I can tell you what {p} is like now, or what's coming|Want today's weather in {p}, or the days ahead] instead?",
                      p=city.name)
    elif kind == "uv":
        text = expand(rng, lead + "[I don't get a UV index|UV isn't among the figures my tools return], so I can't [give you one|tell you how strong the sun is]. "
                      "I can check whether {p} has clear skies or cloud right now, [if that helps|which is a rough guide].", p=city.name)
    else:
        text = expand(rng, lead + "[Air quality and pollen aren't|I have no air-quality or pollen figures: they're not] part of what my weather tools return. "
                      "[I can give you the current conditions in {p}|I can check {p}'s weather] instead, if that's useful.", p=city.name)
    if p.name == "twain" and rng.random() < 0.6:
        text += " " + expand(rng, "[A man who invents what he doesn't know|Guessing and calling it a forecast] [is in politics, not weather|ought to run for office instead].")
    if p.name == "franklin" and rng.random() < 0.6:
        text += " " + expand(rng, "[Better an honest blank than a confident error|A plain 'I don't know' costs less than a wrong answer].")
    c.say(text)


UNKNOWN_CLAUSES = [
    "[I couldn't find|I can't find|the geocoder found no place called|there's no match for] {bad}[ in the geocoding service| on any map I can read|].",
    "{bad} [doesn't turn up|isn't found|returns no results] in the geocoding service.",
    "[my|the] [geocoding|place] search for {bad} came back empty.",
]
UNKNOWN_OFFERS = [
    "[Could you check the spelling|Is there a larger town nearby I could try|Could you add the country]?",
    "If you give me the [latitude and longitude|coordinates], I can [look up the weather directly|check it straight away].",
    "[Tell me|Give me] [a nearby city|the nearest larger town|the country it's in] and I'll [try again|look again|check that instead].",
]


def voiced_error(c: Conversation, clause: str, offer: str, place: str) -> str:
    """A failure told in the persona's voice: no weather jokes, since there is no weather to report."""
    rng, p = c.rng, c.persona
    body = (rng.choice(p.apologies) + " " + clause if rng.random() < 0.7 else cap(clause)) + " " + offer
    if p.name == "onion":
        head = expand(rng, rng.choice([
            "[Search For|Hunt For|Desperate Search For] {place} [Turns Up Nothing|Comes Back Empty|Ends In Failure]",
            "[Weather Desk|Newsroom|Entire Staff] [Comes Up Empty|Left Empty-Handed|Stumped] [After Search|In Hunt For Weather|On {place}]",
            "[Tool|Computer|Weather Machine] [Malfunction|Outage|Hiccup] [Leaves|Strands] [Weather Desk|Reporters|Staff] [Staring At Screen|Refreshing Page|Without A Story]",
        ]), place=place)
        return f"{head}\n\n{cap(body)}"
    if p.name == "twain" and rng.random() < 0.6:
        body += " " + expand(rng, rng.choice([
            "[I'd rather|Better to] [admit a blank|own up to a blank] than [invent a sky|make up the weather], [which is a vice I leave to the newspapers|though the temptation is considerable].",
            "[Machinery|Telegraphs and their cousins|Contraptions of every kind] [have failed me|have let me down|have quit on me] [before|many a time|in my day]; [I have learned patience|it builds character, they tell me|I bear them no grudge|I forgive them, mostly].",
            "[A machine|The apparatus|This gadget] [that sulks|that won't answer|that refuses to talk] [is|makes] [a poor|a sorry|an unhelpful] [witness|correspondent|informant], [but|and] [I'll|I will] [try it again|knock again|give it another chance] [if you say so|when you like|at your word].",
        ]))
    if p.name == "franklin" and rng.random() < 0.6:
        body += " " + expand(rng, rng.choice([
            "[Patience|A little patience] [is cheaper than a guess|costs less than an error].",
            "[Better to wait for the fact|A fact worth having is worth waiting for|Patience is cheaper] than [to act on a rumour|to print a guess|a wrong forecast|a false report].",
            "[An honest blank|A gap in the record|An empty column] [is better than|beats|is worth more than] [a confident error|a printed guess|a tall tale] [in any almanac|on any page|in my experience].",
        ]))
    return cap(body)


def scenario_error_unknown_place(c: Conversation, tags: dict) -> None:
    rng = c.rng
    bad = gazetteer.invented_place(rng)
    ask, template = choose_ask(c, ("now", "day", "range"))
    lower = rng.random() < 0.2
    c.user(question(c, ask, bad.lower() if lower else bad, template, lower))
    c.call("geocode_location", {"city": bad}, weather.geocode_result([]))
    clause = expand(rng, rng.choice(UNKNOWN_CLAUSES), bad=bad)
    c.say(voiced_error(c, clause, expand(rng, rng.choice(UNKNOWN_OFFERS)), bad))
    tags["variant"] = "not_found"
    if ask.when.days:
        tags["days"] = ask.when.days
    if rng.random() < 0.35:
        city = pick_city(c)
        m = phrasing.mention(rng, city, lower)
        follow = mess(rng, c.pick(["Sorry, I meant {p}.", "Try {p} instead.", "ok then {p}", "My mistake: {p}.", "oops, {p}"]).replace("{p}", m.text), lower)
        c.user(follow)
        c.call(*geocode_call(c, m))
        payload = c.call(*weather_call(c, city, ask))
        answer(c, ask, city.name, payload)
        tags["variant"] = "not_found_then_corrected"


TOOL_FAILURES = ["Service temporarily unavailable", "Request timed out", "Too many requests, rate limit exceeded",
                 "Internal server error", "Upstream data source unavailable", "Connection reset by peer"]


def scenario_error_tool(c: Conversation, tags: dict) -> None:
    rng = c.rng
    city = pick_city(c)
    ask, template = choose_ask(c, ("now", "day", "range"))
    lower = rng.random() < 0.25
    m = phrasing.mention(rng, city, lower)
    c.user(question(c, ask, m.text, template, lower))
    failing = rng.choice(["geocode_location", "weather"])
    reason = rng.choice(TOOL_FAILURES)
    failure = {"error": True, "reason": reason}
    if failing == "geocode_location":
        c.call("geocode_location", m.args, failure)
        service = rng.choice(["the geocoding service", "the place lookup", "the location service"])
    else:
        c.call(*geocode_call(c, m))
        name, args, _ = weather_call(c, city, ask)
        c.call(name, args, failure)
        service = rng.choice(["the weather service", "the forecast service", "the weather data service"])
    clause = expand(rng, rng.choice([
        "{service} [returned an error|failed]: \"{reason}\".",
        "[I couldn't get|I wasn't able to get] the weather for {place}, because {service} [reported|returned] \"{reason}\".",
        "{service} is [not responding|having trouble] right now (\"{reason}\").",
    ]), service=service, reason=reason, place=city.name)
    offer = expand(rng, rng.choice([
        "[Would you like me to try again|Shall I try again|Should I retry][ in a moment|]?",
        "[I can try again|We can try again] [in a minute|shortly|whenever you like]; [just say the word|let me know].",
        "[Please try again|Try asking again] in a [little while|few minutes].",
    ]))
    c.say(voiced_error(c, clause, offer, city.name))
    tags["variant"] = f"{'geocode' if failing == 'geocode_location' else 'weather'}_failed"
    if ask.when.days:
        tags["days"] = ask.when.days
    if rng.random() < 0.4:
        c.user(mess(rng, c.pick(["Yes, please try again.", "try again pls", "OK, retry.", "Please give it another go.", "yes"]), lower))
        if failing == "geocode_location":
            c.call(*geocode_call(c, m))
        payload = c.call(*weather_call(c, city, ask))
        answer(c, ask, city.name, payload)
        tags["variant"] += "_then_retried"


def scenario_error_too_many_days(c: Conversation, tags: dict) -> None:
    rng = c.rng
    city = pick_city(c)
    lower = rng.random() < 0.3
    m = phrasing.mention(rng, city, lower)
    asked = rng.choice([15, 16, 20, 21, 25, 28, 30])
    r = rng.random()
    if r < 0.35:
        pool = phrasing.snips_for(c.split, time_kind="far")
        t = rng.choice(pool)
        text = fill(t.text, m.text, rng.choice(phrasing.FAR_TIMES))
        asked_words = "that far ahead"
        asked = 0
    else:
        phrase = (f"the next {asked} days" if rng.random() < 0.5 else f"the next {number_word(asked)} days") if asked not in (21, 30) or rng.random() < 0.5 \
            else {21: "the next three weeks", 30: "the next month"}[asked]
        text = expand(rng, c.pick(["What's the weather in {p} for {x}?", "forecast {p} {x}", "I need the {p} forecast for {x}.",
                                   "We're visiting {p}. Weather for {x}?", "{p} weather {x} please"]), p=m.text, x=phrase)
        asked_words = f"{number_word(asked)} days" if "month" not in phrase else "a month"
    c.user(mess(rng, text, lower))
    clause = expand(rng, rng.choice([
        "[my forecasts reach|the forecast service covers|I can forecast|my tools look] [fourteen days|two weeks] [ahead|out|forward] [and no further|at most|and stop there], so I can't [cover|do|stretch to] {x}.",
        "[forecasts beyond fourteen days aren't available|anything past two weeks would be guesswork rather than a forecast], so I can't do {x}.",
    ]), x=asked_words)
    offer = expand(rng, rng.choice([
        "[Would you like|Shall I get you|Do you want] the [fourteen-day|two-week|full fortnight's] forecast for {city} instead?",
        "[I can give you|I'm able to fetch|What I can do is] the [full two weeks|next fourteen days|fourteen days ahead] for {city}[ if that helps|, if you like|].",
        "[Say the word|Just say so|Tell me] and I'll [fetch|pull up|get] [the two weeks|fourteen days] for {city} [instead|in its place|as the next best thing].",
    ]), city=city.name)
    c.say(voiced_error(c, clause, offer, city.name))
    tags["variant"] = "offer_only"
    if asked:  # a count of days; a "next summer" has none
        tags["days_asked"] = asked
    if rng.random() < 0.6:
        days = rng.choice([14, 14, 7, 10, 5])
        accept = c.pick(["Yes, the two weeks please.", "ok give me the fourteen days", "Fine, two weeks then.", "sure, 2 weeks"]) if days == 14 else \
            c.pick(["Just the next {n} days then.", "OK, make it {n} days.", "then {n} days pls"]).replace("{n}", str(days) if rng.random() < 0.5 else number_word(days))
        c.user(mess(rng, accept, lower))
        ask = Ask(When("range", 0, days, "", f"over the next {number_word(days)} days"), "general")
        c.call(*geocode_call(c, m))
        payload = c.call(*weather_call(c, city, ask))
        answer(c, ask, city.name, payload)
        tags.update(variant="offer_accepted", days=days)


KNOWLEDGE = [
    (["What does a barometer measure?", "what's a barometer for"],
     ["A barometer measures air pressure. Falling pressure often means unsettled weather on the way; rising pressure usually means it's clearing."]),
    (["What's the difference between weather and climate?", "weather vs climate, what's the difference"],
     ["Weather is what the air is doing now and over the next days; climate is the long-run average of that weather for a place, over decades."]),
    (["What does a 40% chance of rain mean?", "what does 40 percent chance of rain actually mean"],
     ["It means that on days like this one, rain falls at any given spot on roughly four days in ten. It says nothing about how much rain, or for how long."]),
    (["What is wind chill?", "how does wind chill work"],
     ["Wind chill is how cold it feels on bare skin when wind carries heat away faster than still air would; the thermometer doesn't change, your skin does."]),
    (["Why does it get foggy?", "what causes fog"],
     ["Fog forms when air near the ground cools to its dew point and the water vapour condenses into tiny droplets: a cloud sitting at ground level."]),
    (["What causes thunder?", "why is there thunder"],
     ["Lightning heats the air around it so fast that the air expands with a bang; that shock wave is the thunder you hear."]),
    (["What's the dew point?", "what does dew point mean"],
     ["The dew point is the temperature to which air must cool for its moisture to condense. The closer it is to the air temperature, the muggier it feels."]),
    (["Why is the sky blue?", "why's the sky blue"],
     ["Air scatters short blue wavelengths of sunlight far more than red ones, so blue light reaches your eyes from every part of the sky."]),
    (["What's the difference between a watch and a warning?", "storm watch vs warning?"],
     ["A watch means conditions could produce the hazard, so stay alert; a warning means it is happening or about to, so act now."]),
    (["What is humidity?", "what does relative humidity mean"],
     ["Relative humidity is how much water vapour the air holds compared with the most it could hold at that temperature. High humidity makes heat feel heavier."]),
    (["How do you read a weather map?", "what do the lines on a weather map mean"],
     ["The lines are isobars, joining places of equal pressure; where they crowd together the wind is strong. H and L mark high and low pressure."]),
    (["What's a heat index?", "what is the heat index"],
     ["The heat index combines temperature and humidity into how hot it feels, because damp air slows the cooling of sweat."]),
]
KNOWLEDGE_TAILS = {
    "twain": ["[That much I can tell you without a tool|No instruments needed for that one]; [the weather itself|a forecast] [I'd have to look up|needs a city and a look].",
              "[I've found the science|I find the science of it] [a good deal more dependable than the weather|more reliable than the thing it studies]."],
    "franklin": ["[Understanding the sky|Knowing the why of it] [is the first step to dressing for it|saves more than it costs].",
                 "[Curiosity about the air|A question about the sky] [has served me well|never wasted a man's time]; [ask me for a city's weather|name a city] [whenever you like|and I'll look it up]."],
    "onion": ["[Scientists|Experts] [confirmed|stood by] the explanation [at press time|when reached for comment], [adding nothing further|declining to elaborate]."],
    "neutral": ["[If you'd like the weather for a particular place|For a forecast], [just name the city|tell me where]."],
}
CAPABILITY_Q = ["What can you do?", "how do you work", "Which tools do you have?", "What do you know about?", "Can you forecast a month ahead?",
                "can you do hourly forecasts?", "what are you?"]
OFF_TOPIC_Q = ["Can you recommend a good book?", "What's the capital of Australia?", "Write me a poem about cats.", "How do I bake bread?",
               "who won the football last night", "Can you help with my taxes?", "What's a good name for a dog?", "Translate 'hello' into French."]
GREETING_Q = ["Hi!", "hello", "Good morning!", "hey", "Hello, who are you?", "Good evening.", "yo", "Hi there, what's this?"]
HERE_Q = ["Is it going to rain?", "What's the weather like?", "will I need a coat", "How hot will it get today?", "Is it snowing?",
          "what's the weather near me", "is it raining where I am", "weather here?", "what's the forecast for my location"]


def capability_text(c: Conversation) -> str:
    rng = c.rng
    return expand(rng, rng.choice([
        "I [have|use|work with] three tools: one [finds|looks up] a place's coordinates, one [gives|reports] current conditions and one [gives|returns] [a day-by-day forecast|daily forecasts|a forecast by the day] [for up to|as far as|reaching] [two weeks|fourteen days] [ahead|out].",
        "I look places up [by name|with a geocoder|from their names], then [fetch|get|pull] current conditions or [a daily forecast|day-by-day figures|a forecast by day] [up to two weeks ahead|for up to fourteen days|as far as a fortnight out]; [no hourly figures, no history|nothing hourly and nothing from the past|no hours and no records of past weather].",
        "[Name|Give me|Tell me] a [city|town|place] and I'll [check|look up|fetch] its [current weather|weather right now] or [its forecast|a forecast] [up to|for as many as|for at most] [fourteen days|two weeks]; [I don't do hourly figures or past weather|hourly and historical figures are beyond my tools].",
    ]))


def scenario_no_tool(c: Conversation, tags: dict) -> None:
    rng, p = c.rng, c.persona
    variant = rng.choice(["greeting", "thanks", "capabilities", "off_topic", "missing_place", "missing_place", "knowledge", "knowledge", "knowledge"])
    tags["variant"] = variant
    lower = rng.random() < 0.3
    if variant == "greeting":
        c.user(mess(rng, c.pick(GREETING_Q), lower))
        text = " ".join([expand(rng, rng.choice(p.greetings)), capability_text(c),
                         expand(rng, "[Where|Which city] [would you like to know about|shall I look up|are you curious about]?")])
    elif variant == "thanks":
        c.user(mess(rng, c.pick(THANKS), lower))
        text = farewell(c)
    elif variant == "capabilities":
        c.user(mess(rng, c.pick(CAPABILITY_Q), lower))
        text = capability_text(c)
        if p.humorous:
            text += " " + expand(rng, rng.choice(p.asides))
    elif variant == "off_topic":
        c.user(mess(rng, c.pick(OFF_TOPIC_Q), lower))
        text = expand(rng, rng.choice(p.asides)) + " " + expand(rng, "[Ask me about the weather anywhere|Name a city and I'll give you its weather].")
    elif variant == "knowledge":
        qs, answers = KNOWLEDGE[rng.randrange(len(KNOWLEDGE))]
        c.user(mess(rng, c.pick(qs), lower))
        text = rng.choice(answers)
        if p.humorous or rng.random() < 0.3:
            text += " " + expand(rng, rng.choice(KNOWLEDGE_TAILS[p.name]))
        if p.name == "onion":
            text = expand(rng, "[Sky|Weather|Atmosphere|Basic Meteorology] [Explained|Finally Explained|Demystified] [To Reader|In Plain Terms|Once Again], "
                               "[Public|Reader|Nation] [Remains Unconvinced|Nods Politely|Asks Follow-Up Question|Pretends To Understand]") + "\n\n" + text
    else:
        pool = phrasing.snips_for(c.split, here=True)
        if rng.random() < 0.5 and pool:
            t = rng.choice(pool)
            # always a time of our own: the question as SNIPS wrote it may be one of the held-out fifth
            c.user(mess(rng, fill(t.text, "", rng.choice(["today", "tomorrow", "right now", "tonight", "this afternoon"])), lower))
        else:
            c.user(mess(rng, c.pick(HERE_Q), lower))
        where = ask_where(c)
        text = expand(rng, "[I can't see where you are|I don't know your location]:") + " " + where[0].lower() + where[1:] if p.name == "neutral" else where
    c.say(text)


SCENARIOS = {
    "geocode_then_weather": scenario_geocode_then_weather,
    "current": scenario_current,
    "forecast": scenario_forecast,
    "compare": scenario_compare,
    "ambiguous_place": scenario_ambiguous_place,
    "multi_turn": scenario_multi_turn,
    "unsupported": scenario_unsupported,
    "error_unknown_place": scenario_error_unknown_place,
    "error_tool": scenario_error_tool,
    "error_too_many_days": scenario_error_too_many_days,
    "no_tool": scenario_no_tool,
}


# ----------------------------------------------------------------------------- the dataset


def quotas(n: int, shares: dict[str, float]) -> dict[str, int]:
    """Exact counts summing to n (largest remainder), so small sets keep the mix too."""
    raw = {k: n * s / sum(shares.values()) for k, s in shares.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (counts[k] - raw[k], k))[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def conversation(index: int, persona: str, scenario: str, seed: int, split: str = "train", attempt: int = 0) -> dict:
    key = f"{seed}:{index}" + (f":{attempt}" if attempt else "")
    rng = random.Random(key)
    c = Conversation(rng, persona, world=key, split=split, dated=rng.random() < DATED_SHARE)
    tags = {"persona": persona, "scenario": scenario}
    SCENARIOS[scenario](c, tags)
    return {"messages": c.messages, "tags": tags, "metadata": {"id": f"wm-{seed}-{index:05d}", "generator": GENERATOR_VERSION, "split": split}}


def plan(n: int, seed: int) -> list[tuple[str, str, str]]:
    """(persona, scenario, split) for every conversation: exact persona and scenario quotas, and every
    1/VALIDATION_FRACTION-th conversation of each persona (in scenario order) held out."""
    rows = []
    step = round(1 / VALIDATION_FRACTION)
    for persona, n_persona in quotas(n, {p: v.share for p, v in PERSONAS.items()}).items():
        ordered = [s for s, k in quotas(n_persona, SCENARIO_SHARES).items() for _ in range(k)]
        rows += [(persona, s, "validation" if (k + 1) % step == 0 else "train") for k, s in enumerate(ordered)]
    random.Random(f"{seed}:plan").shuffle(rows)
    return rows


def user_turns(conv: dict) -> list[str]:
    return [m["content"] for m in conv["messages"] if m["role"] == "user"]


def generate(n: int, seed: int = SEED) -> list[dict]:
    """n conversations with the full persona and scenario mix (exact quotas), deterministic.

    Validation conversations come from their own cities and phrasing families; one that still repeats
    a training user turn word for word (a short "thanks!") is drawn again. Fast and tokenizer-free:
    other modules' tests call it for small realistic datasets."""
    rows = plan(n, seed)
    out = [conversation(i, p, s, seed, split) if split == "train" else None for i, (p, s, split) in enumerate(rows)]
    seen = {u.strip().lower() for conv in out if conv is not None for u in user_turns(conv)}
    for i, (p, s, split) in enumerate(rows):
        if split == "validation":
            for attempt in range(50):
                conv = conversation(i, p, s, seed, split, attempt)
                if not any(u.strip().lower() in seen for u in user_turns(conv)):
                    break
            out[i] = conv
    return out


def split(conversations: list[dict]) -> tuple[list[dict], list[dict]]:
    """(train, validation) as planned; the generated order is kept within each."""
    train = [c for c in conversations if c["metadata"]["split"] == "train"]
    val = [c for c in conversations if c["metadata"]["split"] == "validation"]
    return train, val


def dumps_line(conv: dict) -> str:
    return json.dumps(conv, ensure_ascii=False, separators=(",", ":")) + "\n"


# ----------------------------------------------------------------------------- measurements


def _profile_lengths() -> dict[str, int]:
    import yaml

    out = {}
    for profile in PROFILES:
        path = ROOT / "configs" / f"training_config_{profile}.yaml"
        try:
            out[profile] = int(yaml.safe_load(path.read_text(encoding="utf-8"))["data"]["max_seq_length"])
        except (OSError, KeyError, TypeError, ValueError) as e:
            raise ui.Fail(f"{path}: cannot read data.max_seq_length ({e}); run `make validate CONFIG={path}`") from e
    return out


def token_stats(conversations: list[dict], train: list[dict]) -> dict:
    """Tokens per conversation with the real tokenizer and the project's template, and per training
    epoch: processed (every token of every training line) and loss-carrying (assistant tokens)."""
    from tasks.train import template

    tok = template.load_tokenizer()
    lengths, trained = [], []
    for conv in conversations:
        enc = template.encode(conv, tok)
        lengths.append(len(enc["input_ids"]))
        trained.append(sum(1 for x in enc["labels"] if x != -100))
    ordered = sorted(lengths)
    limits = _profile_lengths()
    train_ids = {id(c) for c in train}
    in_train = [i for i, conv in enumerate(conversations) if id(conv) in train_ids]
    system = {p: len(tok(PERSONAS[p].system, add_special_tokens=False)["input_ids"]) for p in PERSONAS}
    return {
        "tokenizer": "mistral-v0.2 (tokenizer.model.v1, mistral-common)",
        "conversations": len(lengths),
        "total_tokens": sum(lengths),
        "mean": round(statistics.fmean(lengths), 1),
        "median": statistics.median(lengths),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
        "min": ordered[0],
        "trained_tokens_mean": round(statistics.fmean(trained), 1),
        "per_epoch": {"processed": sum(lengths[i] for i in in_train), "loss_carrying": sum(trained[i] for i in in_train)},
        "system_prompt_tokens": system,
        "over_max_seq_length": {p: {"max_seq_length": n, "conversations": sum(1 for x in lengths if x > n)}
                                for p, n in limits.items()},
    }


# The same figures for the data before issue 13 (generator 1.0.0, seed 1729, commit 3ba4046), measured
# with tasks.data.quality and the tokenizer on its committed files: the comparison merge_metadata carries.
BEFORE = {
    "tokens": {"mean": 1072.8, "per_epoch": {"processed": 15440151, "loss_carrying": 2382707},
               "system_prompt_tokens": {"twain": 126, "franklin": 124, "onion": 115, "neutral": 103},
               "over_max_seq_length_2048": 95},
    "user_turns": {"turns": 19486, "shapes": 1785, "shapes_covering_half": 123, "vocabulary": 192, "with_coordinates": 0.1416,
                   "conversations_by_user_turns": {"1": 12514, "2": 3486}, "lower_case": 0.0, "accented": 0},
    "answers_address_questions": {"yesno_questions": 1114, "yesno_with_verdict": 0.1607, "wind_questions": 86,
                                  "wind_answer_names_wind": 0.4535, "rain_questions": 796, "rain_answer_names_rain": 0.6884,
                                  "failure_count": 2360},
    "top_5gram_per_persona": {"franklin": 0.086, "neutral": 0.0541, "onion": 0.0637, "twain": 0.0607},
    "geocode_arguments_match_user": 0.9759,
    "validation_overlap": {"exact_user_turns": 0.2943, "user_shapes": 0.9647},
}


BEFORE_19 = {
    "climate": {"place_months": 2533, "off_by_4C_or_more": 0.4698, "mean_error_C": 4.44,
                "tropical_forecast_steps": 3802, "tropical_jumps_4C_or_more": 0.1152},
    "far_apart_current_readings_on_one_local_hour": {"pairs": 744, "same_hour": 744},
    "real_places_taught_as_not_found": {"asks": 800, "real": 84},
    "geocode_results": {"results": 13564, "accented": 0, "several_places": 713},
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def counts(conversations: list[dict]) -> dict:
    per = Counter((c["tags"]["persona"], c["tags"]["scenario"]) for c in conversations)
    return {
        "total": len(conversations),
        "persona": dict(sorted(Counter(c["tags"]["persona"] for c in conversations).items())),
        "scenario": dict(sorted(Counter(c["tags"]["scenario"] for c in conversations).items())),
        "persona_scenario": {p: {s: per[(p, s)] for s in SCENARIOS} for p in PERSONAS},
    }


def write_dataset(out_dir: str | Path = OUT_DIR, n_total: int = N_TOTAL, seed: int = SEED,
                  with_tokens: bool = True) -> dict:
    """Generate, split and write the two JSONL files; returns the metadata (written by run(), last).

    `with_tokens=False` skips the tokenizer (token statistics absent)."""
    from tasks.data import quality

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    conversations = generate(n_total, seed)
    train, val = split(conversations)
    files = {}
    for name, rows in ((TRAIN_FILE, train), (VALIDATION_FILE, val)):
        path = out_dir / name
        with ui.atomic_path(path) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                fh.writelines(dumps_line(c) for c in rows)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; data files are for every user of the checkout
        files[name] = path
    t_generate = time.perf_counter() - t0
    humour = sum(1 for c in conversations if PERSONAS[c["tags"]["persona"]].humorous) / max(len(conversations), 1)
    metadata = {
        "generator": "tasks.data.generate",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_total": len(conversations),
        "validation_fraction": VALIDATION_FRACTION,
        "files": {name: {"path": str(path.relative_to(out_dir)), "lines": len(rows), "sha256": sha256(path)}
                  for (name, path), rows in zip(files.items(), (train, val), strict=True)},
        "counts": counts(conversations),
        "splits": {"train": counts(train), "validation": counts(val)},
        "humour_ratio": round(humour, 4),
        "persona_shares": {p: v.share for p, v in PERSONAS.items()},
        "scenario_shares": SCENARIO_SHARES,
        "gazetteer_cities": len(gazetteer.CITIES),
        # what `make` compares to decide whether the data is stale (tasks/data/freshness.py)
        "inputs": freshness.digest(),
        "quality": quality.measure(conversations, train, val),
        "before_issue_13": BEFORE,
        # the forecasts against real monthly normals (tasks/data/climate.py), and the same figure for the data
        # before issue 19 (generator 2.0.0 at commit 3be82b2, drawn from latitude and altitude alone)
        "climate": climate.measure(conversations),
        "geocode_results": openmeteo.measure_geocodes(conversations),
        "before_issue_19": BEFORE_19,
        "seconds": {"generate_and_write": round(t_generate, 2)},
    }
    if with_tokens:
        t1 = time.perf_counter()
        metadata["tokens"] = token_stats(conversations, train)
        metadata["seconds"]["token_statistics"] = round(time.perf_counter() - t1, 2)
    return metadata


def run(out_dir: Path, n_total: int, seed: int) -> None:
    from tasks.data.validate import validate_file

    t0 = time.perf_counter()
    ui.info(TAG, f"Generating {n_total} conversations (seed {seed}) into {out_dir}")
    metadata = write_dataset(out_dir, n_total, seed, with_tokens=True)
    t1 = time.perf_counter()
    for name in (TRAIN_FILE, VALIDATION_FILE):
        problems = validate_file(out_dir / name)
        if problems:
            for line in problems:
                print(line)
            raise ui.Fail(f"{out_dir / name}: the generated data breaks the data contract ({len(problems)} problems above); "
                          "fix tasks/data/generate.py")
    unanswered = metadata["quality"]["answers_address_questions"]["failures"]
    if unanswered:
        raise ui.Fail(f"{len(unanswered)} answers do not address their question (first: {unanswered[0]}); fix tasks/data/generate.py")
    metadata["seconds"]["validate"] = round(time.perf_counter() - t1, 2)
    metadata["seconds"]["total"] = round(time.perf_counter() - t0, 2)
    # Timings vary from run to run; kept out of the file so that it has the same bytes every run.
    seconds = metadata.pop("seconds")
    with ui.atomic_path(out_dir / METADATA_FILE) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o644)
    c, tok, q = metadata["counts"], metadata["tokens"], metadata["quality"]
    ui.info(TAG, "personas: " + ", ".join(f"{k} {v}" for k, v in c["persona"].items()) + f" (humour {metadata['humour_ratio']:.1%})")
    ui.info(TAG, "scenarios: " + ", ".join(f"{k} {v}" for k, v in c["scenario"].items()))
    ui.info(TAG, f"split: train {metadata['files'][TRAIN_FILE]['lines']}, validation {metadata['files'][VALIDATION_FILE]['lines']}; "
            f"validation user turns seen in training {q['validation_overlap']['exact_user_turns']:.2%}, "
            f"shapes {q['validation_overlap']['user_shapes']:.2%}")
    ui.info(TAG, f"tokens per conversation: mean {tok['mean']}, median {tok['median']}, p95 {tok['p95']}, max {tok['max']}; per epoch "
            f"{tok['per_epoch']['processed']} processed, {tok['per_epoch']['loss_carrying']} loss-carrying")
    ui.info(TAG, f"user turns: {q['user_turns']['shapes']} shapes, vocabulary {q['user_turns']['vocabulary']}; yes/no with a verdict "
            f"{q['answers_address_questions']['yesno_with_verdict']:.1%}; geocode arguments matching the user {q['geocode_arguments_match_user']:.2%}")
    ui.info(TAG, "top 5-word phrase per persona: " + ", ".join(f"{p} {v['share']:.1%}" for p, v in q["top_5gram_per_persona"].items()))
    ui.info(TAG, "seconds: " + ", ".join(f"{k} {v}" for k, v in seconds.items()))
    ui.success(f"Data written: {out_dir / TRAIN_FILE}, {out_dir / VALIDATION_FILE}, {out_dir / METADATA_FILE}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default data/synthetic)")
    parser.add_argument("--n", type=int, default=N_TOTAL, help="number of conversations (default 16000)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.n < 10:
        parser.error(f"--n {args.n}: too small for a 90/10 split (use 10 or more)")
    return ui.main_guard(run, args.out, args.n, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
