"""Generate the training data: 16,000 weather conversations with tool calls, in four voices.

    python -m tasks.data.generate [--out data/synthetic] [--n 16000] [--seed 1729]
    make data

Writes `final_train.jsonl` and `final_validation.jsonl` (a persona-stratified 90/10
split), validates both against the data contract (tasks.data.validate), measures
tokens with the real Mistral v0.2 tokenizer and the project's chat template, and
writes `merge_metadata.json` LAST (make's target for all three files).

Every conversation is a real shape, not a label (`tags.scenario`):

- current, forecast: the user gives coordinates; one tool round; forecast days
  requested from the tool equal the days asked for;
- geocode_then_weather: a city by name; geocode_location, then the weather call
  with the returned coordinates;
- multi_turn: two or more user turns where a later one depends on an earlier one
  (another city, "and tomorrow?", a comparison, more days, a clarified place);
- error_unknown_place (geocoder finds nothing), error_tool (a tool returns an
  error), error_too_many_days (more than 14 days asked): the assistant explains
  and offers what it can; some continue to a successful answer;
- no_tool: greetings, questions about the assistant, off-topic requests and
  questions that lack a place: no tool call.

Deterministic: each conversation draws from its own `random.Random(f"{seed}:{i}")`,
so the same seed gives the same bytes on every machine. `generate(n)` is the fast,
tokenizer-free entry point that tests of other modules use for small datasets.
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
from pathlib import Path

from tasks import ui

from tasks.data import freshness, gazetteer, weather
from tasks.data.personas import PERSONAS

TAG = "DATA"
ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "data" / "synthetic"
TRAIN_FILE = "final_train.jsonl"
VALIDATION_FILE = "final_validation.jsonl"
METADATA_FILE = "merge_metadata.json"
SEED = 1729
N_TOTAL = 16000
VALIDATION_FRACTION = 0.10
GENERATOR_VERSION = "1.0.0"
PROFILES = ("cpu", "m4", "h100")

# Shares of the whole dataset; the same mix inside every persona.
SCENARIO_SHARES = {
    "current": 0.13,
    "forecast": 0.13,
    "geocode_then_weather": 0.31,
    "multi_turn": 0.15,
    "error_unknown_place": 0.06,
    "error_tool": 0.05,
    "error_too_many_days": 0.06,
    "no_tool": 0.11,
}
ERROR_SCENARIOS = ("error_unknown_place", "error_tool", "error_too_many_days")

# ----------------------------------------------------------------------------- text helpers

_ALTERNATIVE = re.compile(r"\[([^\[\]]*)\]")
_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                 "sixteen seventeen eighteen nineteen twenty").split()
_TENS = {20: "twenty", 30: "thirty"}


def number_word(n: int) -> str:
    if n < len(_NUMBER_WORDS):
        return _NUMBER_WORDS[n]
    tens, unit = divmod(n, 10)
    return _TENS[tens * 10] + (f"-{_NUMBER_WORDS[unit]}" if unit else "")


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


# ----------------------------------------------------------------------------- conversation builder


class Conversation:
    """Accumulates messages in the OpenAI chat format."""

    def __init__(self, rng: random.Random, persona: str, world: str):
        self.rng = rng
        self.world = world  # seeds the weather: every call in one conversation sees the same weather
        self.persona = PERSONAS[persona]
        self.messages: list[dict] = [{"role": "system", "content": self.persona.system}]

    def user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})

    def call(self, name: str, arguments: dict, payload: dict) -> dict:
        """One assistant tool call and its result; returns the payload for the answer."""
        call_id = "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(9))
        self.messages.append({"role": "assistant", "content": None, "tool_calls": [{
            "id": call_id, "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}}]})
        self.messages.append({"role": "tool", "tool_call_id": call_id,
                              "content": json.dumps(payload, ensure_ascii=False, separators=(",", ":"))})
        return payload

    def say(self, text: str) -> None:
        self.messages.append({"role": "assistant", "content": text})


# ----------------------------------------------------------------------------- places, dates, phrasing


def pick_city(rng: random.Random, avoid: gazetteer.City | None = None) -> gazetteer.City:
    while True:
        city = rng.choice(gazetteer.CITIES)
        if city != avoid:
            return city


def pick_moment(rng: random.Random) -> dt.datetime:
    day = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(365))
    return dt.datetime.combine(day, dt.time(rng.randrange(6, 23)))


def place_mention(rng: random.Random, city: gazetteer.City) -> tuple[str, dict]:
    """How the user names the city, and the geocode arguments that mention implies."""
    if rng.random() < 0.25:
        return f"{city.name}, {city.country}", {"city": city.name, "country": city.country}
    return city.name, {"city": city.name}


def coordinates_mention(rng: random.Random, city: gazetteer.City) -> str:
    lat, lon = fmt(city.latitude), fmt(city.longitude)
    return expand(rng, rng.choice([
        "[latitude|lat] {lat}, [longitude|lon] {lon}",
        "{lat}, {lon}",
        "([coordinates|coords] {lat}, {lon})",
    ]), lat=lat, lon=lon)


def days_request(rng: random.Random) -> tuple[int, str]:
    """(days for the tool, how the user says it). 'tomorrow' is 2 days: the forecast starts today."""
    days = rng.choices([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14], weights=[8, 18, 14, 9, 9, 5, 14, 4, 6, 3, 10])[0]
    if days == 1:
        return 1, rng.choice(["today", "later today", "the rest of today"])
    if days == 2:
        return 2, "tomorrow"
    if days == 7 and rng.random() < 0.6:
        return 7, rng.choice(["the week ahead", "the coming week", "the next week", "this week"])
    if days == 14 and rng.random() < 0.6:
        return 14, rng.choice(["the next two weeks", "the coming fortnight", "the next fortnight"])
    n = str(days) if rng.random() < 0.6 else number_word(days)
    return days, expand(rng, "[the next|the coming|the following] {n} days", n=n)


def forecast_question(rng: random.Random, place: str, phrase: str) -> str:
    if phrase in ("today", "later today", "the rest of today", "tomorrow"):
        return expand(rng, rng.choice([
            "What's the forecast for {place} {phrase}?",
            "What will the weather be like in {place} {phrase}?",
            "Will it rain in {place} {phrase}?",
            "How's the weather looking in {place} {phrase}?",
            "Forecast for {place} {phrase}, please.",
            "[Do I need|Should I take] an umbrella in {place} {phrase}?",
            "[I'm going to|I'll be in|Heading to] {place} {phrase}. What weather should I expect?",
            "{place} {phrase}: [hot or cold|wet or dry|what should I wear]?",
        ]), place=place, phrase=phrase)
    return expand(rng, rng.choice([
        "What's the forecast for {place} for {phrase}?",
        "Can you give me the forecast for {phrase} in {place}?",
        "How will the weather be in {place} over {phrase}?",
        "[I'm planning|We're planning] a trip to {place}. What's the weather for {phrase}?",
        "Forecast for {place}, {phrase}, please.",
        "What does {phrase} look like in {place}, weather-wise?",
        "[Give me|I need|Show me] the {place} forecast for {phrase}.",
        "Is it going to rain in {place} during {phrase}?",
    ]), place=place, phrase=phrase)


def current_question(rng: random.Random, place: str) -> str:
    return expand(rng, rng.choice([
        "What's the weather in {place}?",
        "What's the weather like in {place} right now?",
        "[Is it|Is it still] [cold|warm|raining|windy] in {place} [at the moment|right now]?",
        "Current conditions in {place}, please.",
        "[I'm|I am] [heading out|about to go out|leaving the house] in {place}. What's it like outside?",
        "Can you check the [weather|temperature] in {place}?",
        "Tell me the temperature in {place} [right now|at the moment].",
        "weather {place}",
        "[Hey,|Hi,|Quick question:] what's it [doing|like] outside in {place}?",
        "How [hot|cold|warm] is it in {place} [now|right now]?",
        "What are the conditions in {place} [currently|at the moment]?",
    ]), place=place)


def coordinates_current_question(rng: random.Random, coords: str) -> str:
    return expand(rng, rng.choice([
        "What's the weather at {coords}?",
        "[I'm|I am] at {coords}. What are conditions like?",
        "Current weather for {coords}, please.",
        "My [GPS|phone] says {coords}. [Is it cold out|How's the weather|What's it like outside]?",
        "[Check|Look up] the current weather at {coords}[, please|].",
        "How warm is it right now at {coords}?",
    ]), coords=coords)


def coordinates_forecast_question(rng: random.Random, coords: str, phrase: str) -> str:
    if phrase in ("today", "later today", "the rest of today", "tomorrow"):
        return expand(rng, rng.choice([
            "What's the forecast at {coords} {phrase}?",
            "[I'm|I am] at {coords}. [Will it rain|What's the weather going to do] {phrase}?",
            "Forecast for {coords} {phrase}, please.",
        ]), coords=coords, phrase=phrase)
    return expand(rng, rng.choice([
        "What's the forecast at {coords} for {phrase}?",
        "[I'm|We're] camping at {coords}. What's the weather for {phrase}?",
        "Forecast for {coords}, {phrase}, please.",
        "Give me the weather for {phrase} at {coords}.",
    ]), coords=coords, phrase=phrase)


# ----------------------------------------------------------------------------- answers

ADVICE = {
    "wet": [
        "[You'll|You will|You may] want [an umbrella|a rain jacket|waterproof shoes][ if you head out| for any errands| today|].",
        "[Plan|Consider planning] [indoor|sheltered] [activities|plans|errands] [for the wetter spells|where you can|if you can].",
        "[Keep|Have] [an umbrella|a waterproof] [handy|within reach|in your bag][ just in case| today|].",
    ],
    "snow": [
        "[Roads and pavements|Pavements|Roads] [may be|could be] [slippery|icy][, so allow extra travel time|; take care when walking|].",
        "[Wear|Put on] [boots with a good grip|warm waterproof boots][ if you go out| today|].",
    ],
    "thunder": [
        "[Stay indoors during the storms|Avoid open ground and tall trees during thunderstorms|Keep an eye out for lightning][ if you can| and plan around them|].",
    ],
    "cold": [
        "[Dress|Wrap up] [warmly|in layers][, with a hat and gloves|, especially in the morning|].",
        "[A warm coat|A heavy jacket|Thermal layers] [is|would be|will be] [a good idea|worth it|sensible][ today| if you head out|].",
    ],
    "hot": [
        "[Drink plenty of water|Stay hydrated] and [seek shade|avoid the midday sun|wear sunscreen][ in the afternoon|].",
        "[Light clothing|Loose, light clothes] and [sunscreen|a hat] [are|would be] [a good idea|sensible][ today| if you're outside|].",
    ],
    "windy": [
        "[Expect|Watch for] [strong|gusty] [winds|gusts][; secure loose items outdoors| on exposed ground|].",
    ],
    "fair": [
        "[It's|It looks like] [a good|a fine|an excellent] [day|time] for [a walk|being outdoors|a picnic|a bike ride][ outside|].",
        "[No need for an umbrella|You can leave the umbrella at home|The umbrella can stay home][ today| this time|].",
    ],
    "mild": [
        "[A light jacket|A light layer|A sweater] [should be enough|will do|is plenty][ if you head out| today|].",
    ],
}


def mood_of(code: int, temp: float, wind: float) -> str:
    if code in weather.SNOW_CODES:
        return "snow"
    if code == 95:
        return "thunder"
    if code not in weather.DRY_CODES:
        return "wet"
    if temp <= 5:
        return "cold"
    if temp >= 28:
        return "hot"
    if wind >= 35:
        return "windy"
    if code in (0, 1, 2):
        return "fair"
    return "mild"


def compose(c: Conversation, facts: list[str], mood: str | None, place: str, opener: bool = True) -> str:
    """Facts wrapped in the persona's voice: opener, advice and a quip around them."""
    rng, p = c.rng, c.persona
    parts = list(facts)
    mood_quip = p.humorous and mood is not None and mood in p.quips and rng.random() < 0.55
    # A quip about the weather already advises in its way: advice beside it would say the same twice.
    advice_chance = 0.6 if not p.humorous else 0.15 if mood_quip else 0.35
    if mood is not None and rng.random() < advice_chance:
        parts.append(expand(rng, rng.choice(ADVICE[mood if mood in ADVICE else "mild"])))
    if opener and p.openers and rng.random() < (0.5 if p.name == "onion" else 0.3 if p.humorous else 0.12):
        parts.insert(0, expand(rng, rng.choice(p.openers), place=place))
    if p.humorous and rng.random() < 0.85:
        quip = expand(rng, rng.choice(p.quips[mood] if mood_quip else p.quips["any"]))
        parts.insert(rng.choice([len(parts), len(parts), 1]) if len(parts) > 1 else len(parts), quip)
    return " ".join(parts)


def apologise(c: Conversation, clause: str) -> str:
    """`clause` (lowercase start) behind the persona's way of admitting a failure, or on its own."""
    if c.rng.random() < 0.6:
        lead = expand(c.rng, c.rng.choice(c.persona.apologies))
        return f"{lead} {clause}"
    return cap(clause)


def current_facts(rng: random.Random, where: str, cur: dict) -> list[str]:
    now = cur["current"]
    v = {"temp": fmt(now["temperature_2m"]), "desc": now["weather_description"], "where": where, "Where": cap(where),
         "feels": fmt(now["apparent_temperature"]), "wind": fmt(now["wind_speed_10m"]),
         "hum": fmt(now["relative_humidity_2m"]), "precip": fmt(now["precipitation"])}
    main = expand(rng, rng.choice([
        "[Right now|Currently|At the moment|As of this hour] it's {temp}°C [and {desc}|with {desc}] {where}.",
        "{Where} [you'll find|there's] {desc} [at|and] {temp}°C [right now|at the moment|currently].",
        "The [current|latest] [reading|observation|report] {where} [is|shows] {temp}°C [with|and] {desc}.",
        "[Conditions|The sky] {where}: {desc}, {temp}°C[ right now| at the moment|].",
        "{Where} the [thermometer reads|temperature is] {temp}°C [under|with] {desc}[ at the moment| right now|].",
        "[There's|Expect|You've got] {desc} {where}[ right now| at the moment|], [and the temperature is|with the thermometer at|at] {temp}°C.",
        "[It's|It is] {temp}°C {where}[ right now| at the moment|], [and the sky shows|with] {desc}.",
    ]), **v)
    details = {
        "feels": ["[It feels like|The apparent temperature is|It feels more like|It actually feels like] {feels}°C[ outside| out there| to the skin|].",
              "[Factor in|Counting] the [wind and humidity|wind], [and |]it [feels like|comes across as] {feels}°C."],
        "wind": ["[Wind is|Winds are|The wind is blowing at|There's a wind of|Wind speed is] {wind} km/h[ right now| at the moment| this hour|].",
                 "[Expect|You'll feel] [a wind of|wind at|winds around|a breeze of] {wind} km/h[ out there| outside|]."],
        "humidity": ["[Humidity is|Relative humidity is|Humidity sits at|Humidity stands at|The humidity reading is] {hum}%[ right now| at the moment| this hour|].",
                     "The air [is at|holds|carries] {hum}% [relative humidity|humidity][ just now| at present|]."],
        "wind_humidity": ["[Wind|Wind speed] {wind} km/h, [humidity|relative humidity] {hum}%[ for the record| if you're counting|].",
                          "[The wind is at|Winds are|Wind runs at] {wind} km/h and [humidity|the humidity] [is|sits at|stands at] {hum}%[ right now|]."],
    }
    if now["precipitation"] > 0:
        kind = "snow" if now["weather_code"] in weather.SNOW_CODES else "rain"
        details["precip"] = [f"{{precip}} mm of {kind} [fell|has fallen|came down] in the last hour.",
                             f"[In the last hour|Over the past hour], {{precip}} mm of {kind} [fell|came down|was recorded].",
                             f"[The last hour brought|The past hour saw] {{precip}} mm of {kind}[ there|]."]
    keys = rng.sample(sorted(details), k=rng.choice([0, 1, 1, 2]))
    if "wind_humidity" in keys:  # it already says both: never repeat a figure in the same answer
        keys = [k for k in keys if k not in ("wind", "humidity")]
    return [main] + [expand(rng, rng.choice(details[k]), **v) for k in keys]


def day_label(start: dt.date, i: int, long_range: bool) -> str:
    if i == 0:
        return "today"
    if i == 1:
        return "tomorrow"
    day = start + dt.timedelta(days=i)
    if long_range and i >= 7:
        return f"{day:%A}, {day:%B} {day.day}"
    return f"{day:%A}"


def on_day(label: str) -> str:
    return label if label in ("today", "tomorrow") else f"on {label}"


def forecast_facts(rng: random.Random, where: str, fc: dict, days: int, focus_tomorrow: bool) -> list[str]:
    d = fc["daily"]
    start = dt.date.fromisoformat(d["time"][0])

    def day_values(i: int) -> dict:
        return {"desc": d["weather_description"][i], "hi": fmt(d["temperature_2m_max"][i]),
                "lo": fmt(d["temperature_2m_min"][i]), "pp": fmt(d["precipitation_probability_max"][i]),
                "psum": fmt(d["precipitation_sum"][i]), "where": where, "Where": cap(where)}

    if days <= 2 and (days == 1 or focus_tomorrow):
        i = days - 1
        v = day_values(i) | {"day": "today" if i == 0 else "tomorrow", "Day": "Today" if i == 0 else "Tomorrow"}
        facts = [expand(rng, rng.choice([
            "{Day} {where}: {desc}, [a high of|highs near|up to] {hi}°C and [a low of|down to|lows around] {lo}°C.",
            "{Where} {day} [expect|look for|you can expect] {desc}, [with temperatures between {lo} and {hi}°C|from {lo} to {hi}°C].",
            "[The forecast for {day}|{Day}'s forecast] {where} [is|shows] {desc} with a high of {hi}°C and a low of {lo}°C.",
            "{Day} [brings|looks like|should bring] {desc} {where}: [high|highs of] {hi}°C, [low|lows of] {lo}°C.",
            "[Look for|Expect] {desc} {where} {day}, [topping out at|peaking at|reaching] {hi}°C [after a low of|with a low of|and dipping to] {lo}°C.",
        ]), **v)]
        if rng.random() < 0.6:
            rain_word = "snow" if d["weather_code"][i] in weather.SNOW_CODES else "rain"
            if d["precipitation_sum"][i] > 0:
                facts.append(expand(rng, "[The chance of {w} is|{W} chances are|The {w} chance is] {pp}%, [with about|with|and about] {psum} mm [expected|forecast].",
                                    w=rain_word, W=cap(rain_word), **v))
            else:
                facts.append(expand(rng, "[The chance of rain is only|Rain chances are|The rain chance is] {pp}%[, so it should stay dry|; no rain is expected|].", **v))
        return facts
    if days <= 5:
        fmt_item = rng.choice([
            "{day}: {desc}, {lo} to {hi}°C",
            "{day} {desc} with a high of {hi}°C and a low of {lo}°C",
            "{day}, {desc} ({lo} to {hi}°C)",
            "{day} brings {desc} and highs of {hi}°C",
            "{day} looks like {desc} between {lo} and {hi}°C",
            "{day}: high {hi}°C, low {lo}°C, {desc}",
            "{desc} {day} at {lo} to {hi}°C",
        ])
        items = [fmt_item.format(**day_values(i) | {"day": day_label(start, i, False)}) for i in range(days)]
        intro = expand(rng, rng.choice([
            "[Here's|Here is] the [outlook|forecast] {where} for the next {n} days:",
            "[The|Your] {n}-day [outlook|forecast] {where}:",
            "{Where}, the next {n} days [look like this|shape up like this|go like this]:",
            "[Day by day|Day by day, then], {where}:",
        ]), where=where, Where=cap(where), n=number_word(days))
        return [f"{intro} {cap('; '.join(items))}."]
    # Longer ranges: a summary from the extremes of the daily rows, each number taken from them.
    hi, lo, psum, pp = d["temperature_2m_max"], d["temperature_2m_min"], d["precipitation_sum"], d["precipitation_probability_max"]
    v = {"n": number_word(days), "where": where, "Where": cap(where), "min_hi": fmt(min(hi)), "max_hi": fmt(max(hi)),
         "min_lo": fmt(min(lo)), "max_lo": fmt(max(lo))}
    facts = [expand(rng, rng.choice([
        "[Over|Across|For] the next {n} days {where}, [highs range|daytime highs run|highs will range] from {min_hi} to {max_hi}°C and [lows|overnight lows] from {min_lo} to {max_lo}°C.",
        "{Where}, the next {n} days [bring|see] highs between {min_hi} and {max_hi}°C, with lows [between {min_lo} and {max_lo}°C|from {min_lo} to {max_lo}°C].",
        "The {n}-day [picture|outlook|forecast] {where}: [highs|afternoon highs] of {min_hi} to {max_hi}°C, [lows|night-time lows] of {min_lo} to {max_lo}°C.",
    ]), **v)]
    extra = []
    wettest = max(range(days), key=lambda i: (psum[i], -i))
    if psum[wettest] > 0:
        w = "snow" if d["weather_code"][wettest] in weather.SNOW_CODES else "rain"
        extra.append(expand(rng, rng.choice([
            "[The wettest day looks like {day}|The most {w} is due {on_day}|Expect the heaviest {w} {on_day}], with {psum} mm[ and the chance of {w} at {pp}%|].",
            "{Day} [is the wettest|brings the most {w}|looks wettest], [about|with|at] {psum} mm[ of {w}| in all|].",
        ]), w=w, day=day_label(start, wettest, True), on_day=on_day(day_label(start, wettest, True)), Day=cap(day_label(start, wettest, True)),
            psum=fmt(psum[wettest]), pp=fmt(pp[wettest])))
    else:
        extra.append(expand(rng, "[No rain is expected|It stays dry throughout|Not a drop of rain is forecast][ for the whole period| the whole time|]."))
    warm = max(range(days), key=lambda i: (hi[i], -i))
    extra.append(expand(rng, rng.choice([
        "{Day} [is|looks like|should be] the [warmest|mildest] [day|of them|of the lot], [at|with a high of|reaching] {hi}°C.",
        "The [warmest|hottest|mildest] day [is|will be|looks like] {day}, [at|with|reaching] {hi}°C.",
    ]), day=day_label(start, warm, True), Day=cap(day_label(start, warm, True)), hi=fmt(hi[warm])))
    cold = min(range(days), key=lambda i: (lo[i], i))
    extra.append(expand(rng, rng.choice([
        "[The coldest night is|The chilliest night comes|Lows bottom out|The lowest low arrives] {day} at {lo}°C[, the low point of the stretch|, the coldest of the run|].",
        "{Day} [has|brings] the [coldest|lowest|chilliest] [night|minimum], {lo}°C.",
    ]), day=day_label(start, cold, True), Day=cap(day_label(start, cold, True)), lo=fmt(lo[cold])))
    wet_days = [day_label(start, i, True) for i in range(days) if pp[i] >= 50]
    if 0 < len(wet_days) <= 4:
        listed = wet_days[0] if len(wet_days) == 1 else ", ".join(wet_days[:-1]) + " and " + wet_days[-1]
        extra.append(expand(rng, "[Rain is likely|Showers are likely|The best chance of rain is] {listed}.", listed="on " + listed if wet_days[0] not in ("today", "tomorrow") else listed))
    rng.shuffle(extra)
    return facts + extra[: rng.choice([1, 2, 2, 3])]


def forecast_mood(fc: dict) -> str:
    d = fc["daily"]
    codes = d["weather_code"]
    if any(c == 95 for c in codes):
        return "thunder"
    if any(c in weather.SNOW_CODES for c in codes):
        return "snow"
    if sum(c not in weather.DRY_CODES for c in codes) * 2 >= len(codes):
        return "wet"
    if max(d["temperature_2m_max"]) >= 30:
        return "hot"
    if min(d["temperature_2m_min"]) <= 0:
        return "cold"
    return "fair" if all(c in (0, 1, 2) for c in codes) else "mild"


def where_city(rng: random.Random, city: gazetteer.City) -> str:
    return rng.choice(["in ", "in ", "for ", "over "]) + city.name


def where_coords(rng: random.Random) -> str:
    return rng.choice(["at your location", "at those coordinates", "where you are", "at that spot", "at your coordinates"])


# ----------------------------------------------------------------------------- tool rounds


def do_geocode(c: Conversation, city: gazetteer.City, args: dict) -> dict:
    return c.call("geocode_location", args, weather.geocode_result(city))


def do_current(c: Conversation, city: gazetteer.City, when: dt.datetime) -> dict:
    return c.call("get_current_weather", {"latitude": city.latitude, "longitude": city.longitude},
                  weather.current(city, when, c.world))


def do_forecast(c: Conversation, city: gazetteer.City, when: dt.datetime, days: int) -> dict:
    return c.call("get_forecast", {"latitude": city.latitude, "longitude": city.longitude, "days": days},
                  weather.forecast(city, when.date(), days, c.world))


def answer_current(c: Conversation, where: str, cur: dict, place: str) -> None:
    now = cur["current"]
    mood = mood_of(now["weather_code"], now["temperature_2m"], now["wind_speed_10m"])
    c.say(compose(c, current_facts(c.rng, where, cur), mood, place))


def answer_forecast(c: Conversation, where: str, fc: dict, days: int, place: str, focus_tomorrow: bool) -> None:
    c.say(compose(c, forecast_facts(c.rng, where, fc, days, focus_tomorrow), forecast_mood(fc), place))


def named_weather(c: Conversation, city: gazetteer.City, when: dt.datetime, ask: str,
                  days: int = 0, phrase: str = "", user_text: str | None = None) -> dict:
    """A city by name: user question, geocode, weather call, answer. Returns the weather payload."""
    mention, args = place_mention(c.rng, city)
    if user_text is None:
        user_text = current_question(c.rng, mention) if ask == "current" else forecast_question(c.rng, mention, phrase)
    c.user(user_text)
    do_geocode(c, city, args)
    where = where_city(c.rng, city)
    if ask == "current":
        cur = do_current(c, city, when)
        answer_current(c, where, cur, city.name)
        return cur
    fc = do_forecast(c, city, when, days)
    answer_forecast(c, where, fc, days, city.name, focus_tomorrow=phrase == "tomorrow")
    return fc


# ----------------------------------------------------------------------------- scenarios


def scenario_current(c: Conversation, tags: dict) -> None:
    city, when = pick_city(c.rng), pick_moment(c.rng)
    c.user(coordinates_current_question(c.rng, coordinates_mention(c.rng, city)))
    answer_current(c, where_coords(c.rng), do_current(c, city, when), "your location")
    tags["variant"] = "coordinates"


def scenario_forecast(c: Conversation, tags: dict) -> None:
    city, when = pick_city(c.rng), pick_moment(c.rng)
    days, phrase = days_request(c.rng)
    c.user(coordinates_forecast_question(c.rng, coordinates_mention(c.rng, city), phrase))
    answer_forecast(c, where_coords(c.rng), do_forecast(c, city, when, days), days, "your location", phrase == "tomorrow")
    tags.update(variant="coordinates", days=days)


def scenario_geocode_then_weather(c: Conversation, tags: dict) -> None:
    city, when = pick_city(c.rng), pick_moment(c.rng)
    if c.rng.random() < 0.45:
        named_weather(c, city, when, "current")
        tags["variant"] = "current"
    else:
        days, phrase = days_request(c.rng)
        named_weather(c, city, when, "forecast", days, phrase)
        tags.update(variant="forecast", days=days)


def scenario_multi_turn(c: Conversation, tags: dict) -> None:
    rng = c.rng
    variant = rng.choice(["follow_up_city", "and_tomorrow", "compare", "more_days", "clarify_place"])
    city, when = pick_city(rng), pick_moment(rng)
    tags["variant"] = variant
    if variant == "follow_up_city":
        other = pick_city(rng, avoid=city)
        if rng.random() < 0.5:
            named_weather(c, city, when, "current")
            ask, days, phrase = "current", 0, ""
        else:
            days, phrase = days_request(rng)
            named_weather(c, city, when, "forecast", days, phrase)
            ask = "forecast"
            tags["days"] = days
        mention, _ = place_mention(rng, other)
        follow = expand(rng, rng.choice(["And in {p}?", "What about {p}?", "How about {p}?", "Same for {p}, please.",
                                         "And {p}?", "Now do {p}."]), p=mention)
        named_weather(c, other, when, ask, days, phrase, user_text=follow)
    elif variant == "and_tomorrow":
        named_weather(c, city, when, "current")
        c.user(rng.choice(["And tomorrow?", "What about tomorrow?", "Will it be any different tomorrow?",
                           "And how does tomorrow look?", "Any better tomorrow?", "OK, and tomorrow?"]))
        # The coordinates come from the geocode result earlier in the conversation: no second geocode.
        fc = do_forecast(c, city, when, 2)
        answer_forecast(c, where_city(rng, city), fc, 2, city.name, focus_tomorrow=True)
        tags["days"] = 2
    elif variant == "compare":
        other = pick_city(rng, avoid=city)
        first = named_weather(c, city, when, "current")
        mention, args = place_mention(rng, other)
        c.user(expand(rng, rng.choice(["How does that compare with {p}?", "Is it warmer in {p}?",
                                       "Compare that with {p}, please.", "And how does {p} stack up?",
                                       "Is {p} any better right now?"]), p=mention))
        do_geocode(c, other, args)
        second = do_current(c, other, when)
        c.say(compose(c, compare_facts(rng, city, first, other, second), None, other.name))
    elif variant == "more_days":
        days = rng.choice([2, 3, 4, 5])
        phrase = "tomorrow" if days == 2 else f"the next {days if rng.random() < 0.5 else number_word(days)} days"
        named_weather(c, city, when, "forecast", days, phrase)
        more = rng.choice([7, 8, 10, 12, 14])
        n = str(more) if rng.random() < 0.5 else number_word(more)
        c.user(expand(rng, rng.choice(["Can you extend that to {n} days?", "What about the next {n} days?",
                                       "Could you stretch that to {n} days?", "Give me {n} days instead.",
                                       "And the full {n} days?"]), n=n))
        fc = do_forecast(c, city, when, more)
        answer_forecast(c, where_city(rng, city), fc, more, city.name, focus_tomorrow=False)
        tags["days"] = more
    else:  # clarify_place: the first question lacks a place, the second answers the assistant's question
        days, phrase = rng.choice([(0, ""), (2, "tomorrow"), (1, "today")])
        c.user(rng.choice(["What's the weather like?", "Is it cold out?", "Do I need a jacket?"]) if days == 0
               else expand(rng, rng.choice(["Will it rain {p}?", "What's the forecast for {p}?", "Do I need an umbrella {p}?"]), p=phrase))
        c.say(compose(c, [expand(rng, rng.choice([
            "[Which city|Which place|Where] [are you asking about|should I check|do you mean]?",
            "[I need a place to look up|I'll need a location]: [which city are you in|where are you]?",
            "[Happy to check|Glad to look it up]. [Which city|What place] [is it for|should I look up]?",
        ]))], None, "your town", opener=False))
        mention, args = place_mention(rng, city)
        c.user(expand(rng, rng.choice(["{p}.", "In {p}.", "{p}, please.", "I'm in {p}.", "It's for {p}."]), p=mention))
        do_geocode(c, city, args)
        where = where_city(rng, city)
        if days == 0:
            answer_current(c, where, do_current(c, city, when), city.name)
        else:
            answer_forecast(c, where, do_forecast(c, city, when, days), days, city.name, focus_tomorrow=days == 2)
            tags["days"] = days


def compare_facts(rng: random.Random, a: gazetteer.City, cur_a: dict, b: gazetteer.City, cur_b: dict) -> list[str]:
    na, nb = cur_a["current"], cur_b["current"]
    v = {"a": a.name, "b": b.name, "ta": fmt(na["temperature_2m"]), "tb": fmt(nb["temperature_2m"]),
         "da": na["weather_description"], "db": nb["weather_description"],
         "wa": fmt(na["wind_speed_10m"]), "wb": fmt(nb["wind_speed_10m"])}
    if na["temperature_2m"] == nb["temperature_2m"]:
        main = "{b} and {a} are both at {ta}°C[ right now|], with {db} in {b}."
    else:
        v["rel"] = "warmer" if nb["temperature_2m"] > na["temperature_2m"] else "colder"
        main = rng.choice([
            "{b} is {rel} than {a} [right now|at the moment|just now]: {tb}°C against {ta}°C[, with {db}|].",
            "[In|Over in] {b} it's {tb}°C and {db}, [so|which makes it] {rel} than {a} at {ta}°C.",
            "{b} [comes in at|sits at|reads] {tb}°C with {db}; {a} [is at|has] {ta}°C[ and {da}|], so {b} is {rel}.",
        ])
    facts = [expand(rng, main, **v)]
    if rng.random() < 0.5:
        facts.append(expand(rng, "[The wind|Wind] is {wb} km/h in {b} [versus|compared with|against] {wa} km/h in {a}.", **v))
    return facts


UNKNOWN_CLAUSES = [
    "[I couldn't find|I can't find|the geocoder found no place called|there's no match for] {bad}[ in the geocoding service| anywhere| on any map I can read|].",
    "{bad} [doesn't turn up|isn't found|returns no results] in the geocoding service[, I'm afraid|].",
    "[my|the] [geocoding|place] search for {bad} came back empty.",
]
UNKNOWN_OFFERS = [
    "[Could you check the spelling|Is there a larger town nearby I could try|Could you add the country]?",
    "If you give me the [latitude and longitude|coordinates], I can [look up the weather directly|check it straight away].",
    "[Tell me|Give me] [a nearby city|the nearest larger town|the country it's in] and I'll [try again|look again|check that instead].",
    "[Maybe it goes by another name|Perhaps it's spelled differently]; [which spelling should I try|what else might it be called]?",
]


def scenario_error_unknown_place(c: Conversation, tags: dict) -> None:
    rng = c.rng
    bad, when = gazetteer.invented_place(rng), pick_moment(rng)
    if rng.random() < 0.5:
        c.user(current_question(rng, bad))
        ask, days, phrase = "current", 0, ""
    else:
        days, phrase = days_request(rng)
        c.user(forecast_question(rng, bad, phrase))
        ask = "forecast"
        tags["days"] = days
    c.call("geocode_location", {"city": bad}, weather.geocode_result(None))
    text = apologise(c, expand(rng, rng.choice(UNKNOWN_CLAUSES), bad=bad)) + " " + expand(rng, rng.choice(UNKNOWN_OFFERS))
    c.say(compose(c, [text], None, bad, opener=False) if c.persona.humorous and rng.random() < 0.5 else text)
    tags["variant"] = "not_found"
    if rng.random() < 0.3:
        city = pick_city(rng)
        mention, _ = place_mention(rng, city)
        follow = expand(rng, rng.choice(["Sorry, I meant {p}.", "Try {p} instead.", "OK, then {p}.", "My mistake: {p}."]), p=mention)
        named_weather(c, city, when, ask, days, phrase, user_text=follow)
        tags["variant"] = "not_found_then_corrected"


TOOL_FAILURES = [
    "Service temporarily unavailable", "Request timed out", "Too many requests, rate limit exceeded",
    "Internal server error", "Upstream data source unavailable", "Connection reset by peer",
]


def scenario_error_tool(c: Conversation, tags: dict) -> None:
    rng = c.rng
    city, when = pick_city(rng), pick_moment(rng)
    ask = rng.choice(["current", "forecast"])
    days, phrase = days_request(rng) if ask == "forecast" else (0, "")
    if days:
        tags["days"] = days
    failing = rng.choice(["geocode_location", "weather"])
    mention, args = place_mention(rng, city)
    c.user(current_question(rng, mention) if ask == "current" else forecast_question(rng, mention, phrase))
    reason = rng.choice(TOOL_FAILURES)
    failure = {"error": True, "reason": reason}
    weather_call = ("get_current_weather", {"latitude": city.latitude, "longitude": city.longitude}) if ask == "current" else (
        "get_forecast", {"latitude": city.latitude, "longitude": city.longitude, "days": days})
    if failing == "geocode_location":
        c.call("geocode_location", args, failure)
        service = rng.choice(["the geocoding service", "the place lookup", "the location service"])
    else:
        do_geocode(c, city, args)
        c.call(*weather_call, failure)
        service = rng.choice(["the weather service", "the forecast service", "the weather data service"])
    clause = expand(rng, rng.choice([
        "{service} [returned an error|failed|didn't answer properly]: \"{reason}\".",
        "[I couldn't get|I wasn't able to get] the weather {where}, because {service} [reported|returned] \"{reason}\".",
        "{service} is [not responding|having trouble] right now (\"{reason}\").",
    ]), service=service, reason=reason, where=where_city(rng, city))
    offer = expand(rng, rng.choice([
        "[Would you like me to try again|Shall I try again|Should I retry][ in a moment|]?",
        "[I can try again|We can try again] [in a minute|shortly|whenever you like]; [just say the word|let me know].",
        "[Please try again|Try asking again] in a [little while|few minutes], or [check a weather website|look at a local forecast] in the meantime.",
    ]))
    text = apologise(c, clause) + " " + offer
    c.say(compose(c, [text], None, city.name, opener=False) if c.persona.humorous and rng.random() < 0.4 else text)
    tags["variant"] = f"{'geocode' if failing == 'geocode_location' else 'weather'}_failed"
    if rng.random() < 0.35:
        c.user(rng.choice(["Yes, please try again.", "Try again, please.", "OK, retry.", "Please give it another go."]))
        if failing == "geocode_location":
            do_geocode(c, city, args)
        payload = do_current(c, city, when) if ask == "current" else do_forecast(c, city, when, days)
        where = where_city(rng, city)
        if ask == "current":
            answer_current(c, where, payload, city.name)
        else:
            answer_forecast(c, where, payload, days, city.name, focus_tomorrow=phrase == "tomorrow")
        tags["variant"] += "_then_retried"


def scenario_error_too_many_days(c: Conversation, tags: dict) -> None:
    rng = c.rng
    city, when = pick_city(rng), pick_moment(rng)
    asked = rng.choice([15, 16, 20, 21, 25, 28, 30])
    mention, args = place_mention(rng, city)
    if asked == 21 and rng.random() < 0.5:
        phrase = "the next three weeks"
    elif asked == 30 and rng.random() < 0.5:
        phrase = "the next month" if rng.random() < 0.5 else "the next thirty days"
    else:
        phrase = f"the next {asked} days" if rng.random() < 0.6 else f"a {asked}-day forecast"
    c.user(expand(rng, rng.choice([
        "What's the weather in {p} for {phrase}?" if not phrase.startswith("a ") else "Can I get {phrase} for {p}?",
        "I need the forecast for {p} for {phrase}." if not phrase.startswith("a ") else "Give me {phrase} for {p}.",
        "[We're|I'm] [visiting|moving to] {p}. " + ("What's the weather for {phrase}?" if not phrase.startswith("a ") else "Can you do {phrase}?"),
    ]), p=mention, phrase=phrase))
    clause = expand(rng, rng.choice([
        "[I can only forecast|my forecasts reach|the forecast service covers] up to [fourteen days|two weeks] ahead[, so {asked} is out of reach| and no further|].",
        "[forecasts beyond|anything past] [fourteen days|two weeks] [aren't available|isn't something the forecast service provides|would be guesswork rather than a forecast].",
    ]), asked="a month" if phrase == "the next month" else f"{number_word(asked)} days")
    offer = expand(rng, rng.choice([
        "[Would you like|Shall I get you|Do you want] the [fourteen-day|two-week] forecast [instead|for {city}]?",
        "I can give you the [full two weeks|first fourteen days|next fourteen days] [for {city}|instead] if that helps.",
        "[Want|Would you like] [a shorter forecast|the two weeks I can do] instead?",
    ]), city=city.name)
    text = cap(clause) + " " + offer
    c.say(compose(c, [text], None, city.name, opener=False) if c.persona.humorous and rng.random() < 0.5 else text)
    tags.update(variant="offer_only", days_asked=asked)
    if rng.random() < 0.6:
        days = rng.choice([14, 14, 7, 10, 5])
        if days == 14:
            accept = rng.choice(["Yes, the two weeks please.", "OK, give me the fourteen days.", "Fine, the 14-day forecast then.",
                                 "Sure, two weeks will do."])
        else:
            n = str(days) if rng.random() < 0.5 else number_word(days)
            accept = expand(rng, rng.choice(["Just the next {n} days then.", "OK, make it {n} days.",
                                             "Then give me {n} days, please."]), n=n)
        c.user(accept)
        do_geocode(c, city, args)
        fc = do_forecast(c, city, when, days)
        answer_forecast(c, where_city(rng, city), fc, days, city.name, focus_tomorrow=False)
        tags.update(variant="offer_accepted", days=days)


def scenario_no_tool(c: Conversation, tags: dict) -> None:
    rng, p = c.rng, c.persona
    variant = rng.choice(["greeting", "thanks", "capabilities", "off_topic", "missing_place"])
    tags["variant"] = variant
    hello = expand(rng, rng.choice(p.greetings))
    offer = expand(rng, rng.choice([
        "[I can|I'm able to] [tell you|look up|check] the current weather or a forecast of up to [two weeks|fourteen days] for [any city|any place|most cities][ you name|].",
        "[Ask me|Just ask] about the weather [anywhere|in any city][, now or for the next two weeks|, current or forecast|].",
        "[Name a city|Give me a place] and I'll [fetch|get] [its|the] [current conditions|weather] or [forecast|a forecast up to two weeks out].",
    ]))
    if variant == "greeting":
        c.user(rng.choice(["Hi!", "Hello there.", "Good morning!", "Hey", "Hello, who are you?", "Good evening."]))
        facts = [hello, offer, expand(rng, "[Where|Which city] [would you like to know about|shall I look up|are you curious about]?")]
    elif variant == "thanks":
        c.user(rng.choice(["Thanks!", "Thank you, that's all.", "Cheers, that's helpful.", "Great, thanks a lot.", "Thanks, bye!"]))
        facts = [expand(rng, rng.choice([
            "[You're welcome|My pleasure|Glad to help|Any time][!|.]",
            "[Happy to help|Glad I could help|You're most welcome][!|.]",
        ])), expand(rng, "[Come back|Ask again|Check in again] [whenever|any time|if] [the sky looks doubtful|you need a forecast|you're planning a trip][.|!]")]
    elif variant == "capabilities":
        c.user(rng.choice(["What can you do?", "How do you work?", "Which tools do you have?", "What do you know about?",
                           "Can you forecast a month ahead?"]))
        facts = [expand(rng, rng.choice([
            "I [have|use] three tools: one finds a city's coordinates, one gives current conditions and one gives a daily forecast of up to [two weeks|fourteen days].",
            "I look places up [by name|with a geocoder], then fetch [current conditions|the current weather] or a daily forecast [up to two weeks ahead|for up to fourteen days].",
        ])), offer]
    elif variant == "off_topic":
        c.user(rng.choice(["Can you recommend a good book?", "What's the capital of Australia?", "Write me a poem about cats.",
                           "How do I bake bread?", "Who won the football last night?", "Can you help with my taxes?",
                           "What's a good name for a dog?", "Translate 'hello' into French."]))
        facts = [expand(rng, rng.choice([
            "[That's outside what I can help with|I'll have to leave that one to others|That's not my department]: I'm a weather assistant.",
            "I only [know|handle] the weather, [I'm afraid|so I can't help with that one|so that one is beyond me].",
            "[Sorry|Apologies], I [stick to|only do] weather: current conditions and forecasts.",
        ])), offer]
    else:
        c.user(rng.choice(["Is it going to rain?", "What's the weather like?", "Will I need a coat?",
                           "How hot will it get today?", "Is it snowing?"]))
        facts = [expand(rng, rng.choice([
            "[Which city|Which place|Where] [are you asking about|should I check|do you mean]?",
            "[I need a place to look up|I'll need a location]: [which city are you in|where are you]?",
            "[Tell me|Let me know] [the city|where you are] and I'll [check|look it up][ right away|].",
        ]))]
    c.say(compose(c, facts, None, "your town", opener=False))


SCENARIOS = {
    "current": scenario_current,
    "forecast": scenario_forecast,
    "geocode_then_weather": scenario_geocode_then_weather,
    "multi_turn": scenario_multi_turn,
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


def conversation(index: int, persona: str, scenario: str, seed: int) -> dict:
    c = Conversation(random.Random(f"{seed}:{index}"), persona, world=f"{seed}:{index}")
    tags = {"persona": persona, "scenario": scenario}
    SCENARIOS[scenario](c, tags)
    return {"messages": c.messages, "tags": tags, "metadata": {"id": f"wm-{seed}-{index:05d}", "generator": GENERATOR_VERSION}}


def generate(n: int, seed: int = SEED) -> list[dict]:
    """n conversations with the full persona and scenario mix (exact quotas), deterministic.

    Fast and tokenizer-free: other modules' tests call it for small realistic datasets.
    """
    plan = []
    for persona, n_persona in quotas(n, {p: v.share for p, v in PERSONAS.items()}).items():
        for scenario, k in quotas(n_persona, SCENARIO_SHARES).items():
            plan += [(persona, scenario)] * k
    random.Random(f"{seed}:plan").shuffle(plan)
    return [conversation(i, persona, scenario, seed) for i, (persona, scenario) in enumerate(plan)]


def split(conversations: list[dict], fraction: float = VALIDATION_FRACTION) -> tuple[list[dict], list[dict]]:
    """Persona-stratified split (scenarios spread evenly too): every 1/fraction-th line of each
    persona, in scenario order, goes to validation. Keeps the generated order otherwise."""
    step = round(1 / fraction)
    val_ids = set()
    by_persona: dict[str, list[int]] = {}
    for i, conv in enumerate(conversations):
        by_persona.setdefault(conv["tags"]["persona"], []).append(i)
    for ids in by_persona.values():
        ordered = sorted(ids, key=lambda i: (conversations[i]["tags"]["scenario"], i))
        val_ids.update(ordered[step - 1 :: step])
    train = [c for i, c in enumerate(conversations) if i not in val_ids]
    val = [c for i, c in enumerate(conversations) if i in val_ids]
    return train, val


def dumps_line(conv: dict) -> str:
    return json.dumps(conv, ensure_ascii=False, separators=(",", ":")) + "\n"


# ----------------------------------------------------------------------------- measurements

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _names_pattern() -> re.Pattern:
    names = {c.name for c in gazetteer.CITIES} | {c.country for c in gazetteer.CITIES} | set(gazetteer.UNKNOWN_PLACES)
    names |= {a + b for a in gazetteer._SYLLABLES_A for b in gazetteer._SYLLABLES_B}
    return re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))


_VALUE_WORDS = re.compile(
    "|".join(sorted((re.escape(w) for w in list(weather.WMO.values())
                     + ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
                        "January", "February", "March", "April", "May", "June", "July", "August",
                        "September", "October", "November", "December"]), key=len, reverse=True)),
    flags=re.IGNORECASE)


def answer_sentence_patterns(text: str, names: re.Pattern) -> set[str]:
    """The answer's sentences with every value masked: places @, numbers #, weather words and dates ~."""
    masked = _NUMBER.sub("#", _VALUE_WORDS.sub("~", names.sub("@", text)))
    return {s for s in _SENTENCE_END.split(masked) if s}


def answer_pattern_stats(conversations: list[dict]) -> dict:
    """How repetitive the final answers are: the largest share of answers that contain one
    sentence pattern (values masked). The issue allows at most 1%."""
    names = _names_pattern()
    sentence_counts: Counter = Counter()
    whole: Counter = Counter()
    n = 0
    for conv in conversations:
        for m in conv["messages"]:
            if m["role"] == "assistant" and m.get("content"):
                n += 1
                patterns = answer_sentence_patterns(m["content"], names)
                sentence_counts.update(patterns)
                whole[" ".join(sorted(patterns))] += 1
    top, top_count = sentence_counts.most_common(1)[0] if sentence_counts else ("", 0)
    return {
        "answers": n,
        "max_sentence_pattern_share": round(top_count / max(n, 1), 5),
        "max_sentence_pattern": top,
        "distinct_sentence_patterns": len(sentence_counts),
        "max_answer_pattern_share": round((whole.most_common(1)[0][1] if whole else 0) / max(n, 1), 5),
    }


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


def token_stats(conversations: list[dict]) -> dict:
    """Tokens per conversation with the real tokenizer and the project's template."""
    from tasks.train import template

    tok = template.load_tokenizer()
    lengths, trained = [], []
    for conv in conversations:
        enc = template.encode(conv, tok)
        lengths.append(len(enc["input_ids"]))
        trained.append(sum(1 for x in enc["labels"] if x != -100))
    ordered = sorted(lengths)
    limits = _profile_lengths()
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
        "over_max_seq_length": {p: {"max_seq_length": n, "conversations": sum(1 for x in lengths if x > n)}
                                for p, n in limits.items()},
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
    """Generate, split and write the two JSONL files, then merge_metadata.json last.

    Returns the metadata. `with_tokens=False` skips the tokenizer (token statistics absent).
    """
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
        "answers": answer_pattern_stats(conversations),
        "seconds": {"generate_and_write": round(t_generate, 2)},
    }
    if with_tokens:
        t1 = time.perf_counter()
        metadata["tokens"] = token_stats(conversations)
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
    metadata["seconds"]["validate"] = round(time.perf_counter() - t1, 2)
    metadata["seconds"]["total"] = round(time.perf_counter() - t0, 2)
    # Timings vary from run to run; kept out of the file so that it has the same bytes every run.
    seconds = metadata.pop("seconds")
    with ui.atomic_path(out_dir / METADATA_FILE) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o644)
    c, tok, ans = metadata["counts"], metadata["tokens"], metadata["answers"]
    ui.info(TAG, "personas: " + ", ".join(f"{k} {v}" for k, v in c["persona"].items()) + f" (humour {metadata['humour_ratio']:.1%})")
    ui.info(TAG, "scenarios: " + ", ".join(f"{k} {v}" for k, v in c["scenario"].items()))
    ui.info(TAG, f"split: train {metadata['files'][TRAIN_FILE]['lines']}, validation {metadata['files'][VALIDATION_FILE]['lines']}")
    ui.info(TAG, f"tokens per conversation: mean {tok['mean']}, median {tok['median']}, p95 {tok['p95']}, max {tok['max']}; "
            + ", ".join(f"{p}: {v['conversations']} over {v['max_seq_length']}" for p, v in tok["over_max_seq_length"].items()))
    ui.info(TAG, f"answers: {ans['answers']}, largest sentence-pattern share {ans['max_sentence_pattern_share']:.2%} "
            f"({ans['distinct_sentence_patterns']} patterns)")
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
