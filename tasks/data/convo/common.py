"""What every conversation kind shares: the builder (messages in the OpenAI chat format), the user's words,
figures in the units asked, day names and the tool rounds whose results are shaped as the live tools shape them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import string
from dataclasses import dataclass
from functools import lru_cache

from tasks.data import gazetteer, localtime, phrasing, weather
from tasks.data.personas import PERSONAS, Persona, system_prompt
from tasks.data.phrasing import When

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


# ----------------------------------------------------------------------------- answer cores (the fact the first sentence carries)


def rows_of(fc: dict) -> list[dict]:
    d = fc["daily"]
    return [{"time": d["time"][i], "weather_code": d["weather_code"][i], "desc": d["weather_description"][i],
             "hi": d["temperature_2m_max"][i], "lo": d["temperature_2m_min"][i], "psum": d["precipitation_sum"][i],
             "pp": d["precipitation_probability_max"][i]} for i in range(len(d["time"]))]


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
THANKS = ["thanks!", "Thanks, that's all.", "cheers", "Great, thank you.", "perfect, thx", "OK thanks, bye.", "Thank you!", "ty"]
