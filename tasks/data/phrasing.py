"""How users ask: real questions (SNIPS) turned into templates, the project's own casual phrasing,
the days people name, and how they write a place.

    python -m tasks.data.phrasing          # how the SNIPS questions were turned into templates, with examples

`snips_templates()` reads `snips.phrasing()` (never the held-out fifth) and marks in each question
the place (its city/state/country/point-of-interest slots, merged) as `{p}` and the time as `{w}`;
the condition and temperature slots set what the question is about (`focus`: rain, wind, cold, ...)
and whether it wants a yes or no. Times are replaced by days the tools can answer, unless the
generator keeps the original to teach an honest "I can't" (a past date, a year ahead, an hour).
Questions about "here" or "my current location" keep that wording: with no place, the answer asks
where. Every template has a stable `family` (a hash of its text): the validation split draws from
other families than training (`in_split`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from tasks import ui
from tasks.data import gazetteer, snips

TAG = "DATA"
VALIDATION_BUCKETS = 7  # one family in seven (by hash) belongs to validation


@lru_cache(maxsize=None)
def family_of(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def in_split(text: str, split: str) -> bool:
    """True when a template (or place name) belongs to `split` ("train" or "validation")."""
    return (family_of(text) % VALIDATION_BUCKETS == 0) == (split == "validation")


def split_pool(pool: list[str] | tuple[str, ...], split: str) -> list[str]:
    """The part of a pool for one split; a pool never leaves a split empty (the first template by hash
    goes to validation when none does)."""
    return _split_pool(tuple(pool), split)


@lru_cache(maxsize=None)
def _split_pool(pool: tuple[str, ...], split: str) -> list[str]:
    mine = [t for t in pool if in_split(t, split)]
    if split == "validation" and not mine:
        mine = [min(pool, key=family_of)]
    if split == "train" and len(pool) > 1 and not mine:
        mine = [t for t in pool if t != min(pool, key=family_of)]
    return mine or list(pool)


@lru_cache(maxsize=None)
def snips_for(split: str, here: bool = False, time_kind: str | None = None) -> tuple[Template, ...]:
    """This split's SNIPS templates: with or without a place, optionally only those whose own time was
    of one kind (past, far, hour)."""
    return tuple(t for t in snips_templates() if t.here == here and in_split(t.text, split)
                 and (time_kind is None or _classify_time(t.original_time) == time_kind))


# ----------------------------------------------------------------------------- what a question asks

# focus: what the first sentence must be about.
FOCUS_WORDS = {
    "rain": ("rain", "rainy", "rainfall", "drizzle", "showers", "shower", "wet", "umbrella", "downpour", "brolly", "raining", "rains", "drizzling"),
    "snow": ("snow", "snowy", "snowfall", "snowstorm", "blizzard", "snowing", "sleet", "snows"),
    "wind": ("windy", "wind", "gale", "breezy", "gusty"),
    "storm": ("storm", "stormy", "thunder", "thunderstorm", "thunderstorms", "hail", "lightning"),
    "sun": ("sun", "sunny", "sunshine", "clear", "sunnier"),
    "cloud": ("cloud", "cloudy", "overcast", "clouds", "cloudier"),
    "fog": ("fog", "foggy", "mist", "misty"),
    "humid": ("humid", "humidity", "muggy"),
    "hot": ("hot", "hotter", "heat", "scorching"),
    "warm": ("warm", "warmer", "temperate", "mild"),
    "cold": ("cold", "colder", "chilly", "chillier", "freezing", "frost", "cool"),
}
_FOCUS_OF = {w: f for f, words in FOCUS_WORDS.items() for w in words}
COMPARATIVES = {"colder": "cold", "chillier": "cold", "warmer": "warm", "hotter": "hot"}
YESNO_START = re.compile(r"^\s*(is|will|should|does|do|did|can|could|would|are|was|am|gonna|any|tell me if|"
                         r"i want to know if|i'd like to know if|let me know if)\b", re.IGNORECASE)


@dataclass(frozen=True)
class When:
    """A time the user names and what the tools need for it."""
    kind: str  # now | day | tonight | weekend | range
    day: int = 0  # first forecast day meant (0 = today)
    days: int = 0  # forecast days to request (0: current conditions)
    text: str = ""  # the words in the question, with their preposition ("on Saturday", "tomorrow", "")
    label: str = ""  # how the answer names it ("tomorrow", "on Saturday", "tonight", "over the next five days")


NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                "sixteen seventeen eighteen nineteen twenty").split()


def number_word(n: int) -> str:
    if n < len(NUMBER_WORDS):
        return NUMBER_WORDS[n]
    tens, unit = divmod(n, 10)
    return {20: "twenty", 30: "thirty"}[tens * 10] + (f"-{NUMBER_WORDS[unit]}" if unit else "")


def pick_when(rng, today: dt.date | None, kinds: tuple[str, ...] = ("now", "day", "tonight", "weekend", "range")) -> When:
    """A time the tools can answer. Weekday names and "this weekend" only with today's date known."""
    choices = [k for k in kinds if today is not None or k != "weekend"]
    kind = rng.choices(choices, weights=[{"now": 34, "day": 34, "tonight": 6, "weekend": 8, "range": 18}[k] for k in choices])[0]
    if kind == "now":
        text = rng.choice(["", "", "right now", "now", "at the moment", "currently", "rn", "this morning"
                           if False else "just now"])
        return When("now", text=text, label="right now")
    if kind == "tonight":
        return When("tonight", 0, 1, rng.choice(["tonight", "this evening", "tonight"]), "tonight")
    if kind == "weekend":
        wd = today.weekday()  # Monday 0
        if wd == 6:  # on a Sunday "this weekend" is today: ask for the next one instead
            return When("day", 0, 1, "today", "today")
        sat = (5 - wd) % 7
        sun = sat + 1 if wd != 6 else 0
        return When("weekend", sat, sun + 1, rng.choice(["this weekend", "over the weekend", "at the weekend", "this weekend"]),
                    "this weekend")
    if kind == "range":
        days = rng.choices([3, 4, 5, 6, 7, 10, 14], weights=[14, 10, 14, 5, 20, 8, 12])[0]
        if days == 7 and rng.random() < 0.6:
            text = rng.choice(["this week", "for the week ahead", "over the coming week", "for the next week", "next 7 days"])
        elif days == 14 and rng.random() < 0.6:
            text = rng.choice(["for the next two weeks", "over the next fortnight", "for the coming two weeks"])
        else:
            n = str(days) if rng.random() < 0.6 else number_word(days)
            text = rng.choice([f"for the next {n} days", f"over the next {n} days", f"next {n} days", f"for the coming {n} days"])
        return When("range", 0, days, text, f"over the next {number_word(days)} days")
    # one day
    if today is not None and rng.random() < 0.4:
        offset = rng.randint(2, 6)
        day = today + dt.timedelta(days=offset)
        text = rng.choice([f"on {day:%A}", f"{day:%A}", f"this {day:%A}", f"on {day:%A}"])
        if rng.random() < 0.3:
            text = text.lower()
        return When("day", offset, offset + 1, text, f"on {day:%A}")
    offset = rng.choices([0, 1, 2, 3, 4, 5], weights=[25, 45, 10, 8, 6, 6])[0]
    if offset == 0:
        return When("day", 0, 1, rng.choice(["today", "later today", "this afternoon", "today"]), "today")
    if offset == 1:
        return When("day", 1, 2, rng.choice(["tomorrow", "tomorrow", "tmrw", "tomorrow morning", "tomorow"]), "tomorrow")
    if offset == 2:
        return When("day", 2, 3, "the day after tomorrow", "the day after tomorrow")
    n = str(offset) if rng.random() < 0.5 else number_word(offset)
    return When("day", offset, offset + 1, rng.choice([f"in {n} days", f"{n} days from now"]), f"in {number_word(offset)} days")


# Times no tool answers, kept as lessons: a past date, too far ahead, an hour of the day.
PAST_TIMES = ["yesterday", "last week", "last night", "last weekend", "last month", "on Christmas day last year", "last March"]
FAR_TIMES = ["next year", "in nine months", "in six weeks", "next summer", "in three weeks", "this autumn", "a month from now",
             "next winter", "in two months", "for the whole of next month"]
HOUR_TIMES = ["at 3 pm", "at noon", "at midnight", "at 6 am", "around 5 pm", "at 9 tonight", "at sunrise", "at lunchtime",
              "at 8 in the morning", "by 4 pm", "at 11 am", "for the school run at 8"]


# ----------------------------------------------------------------------------- the project's own templates

# {p} place, {w} time words (may be empty). Lower case, no question marks, shorthand and typos are part
# of the material: that is how people type. Grouped by focus; "yesno" pools want a verdict.
OWN = {
    ("general", False): [
        "What's the weather in {p}{w}?", "weather {p}{w}", "{p} weather{w}?", "how's the weather in {p}{w}",
        "What's it like in {p}{w}?", "whats it doing in {p}{w}", "What should I expect in {p}{w}, weather-wise?",
        "Can you check the weather in {p}{w}?", "forecast {p}{w}", "Give me the weather for {p}{w}, please.",
        "how is it looking in {p}{w}", "What's the forecast like in {p}{w}?", "hey whats the weather like in {p}{w}",
        "Heading to {p}{w}. What's the weather doing?", "I'm in {p}. What's it like out{w}?", "{p}{w}: what's the weather",
        "Quick one: weather in {p}{w}?", "tell me the weather in {p}{w}", "wx {p}{w}", "How's {p} looking{w}?",
        "What kind of weather is {p} getting{w}?", "need the weather for {p}{w} pls", "conditions in {p}{w}?",
        "what's the outlook for {p}{w}", "Any idea what the weather's doing in {p}{w}?", "could you look up {p}{w} for me",
        "got a sec? need {p} weather{w}", "curious about {p}{w}, what's the sky doing", "How grim is it in {p}{w}?",
        "describe the weather in {p}{w}", "weather report for {p}{w}", "mind checking {p}{w}?", "what's happening weather wise in {p}{w}",
        "Should I pack layers for {p}{w}?", "what do I wear in {p}{w}", "What are conditions like over in {p}{w}?",
        "Tell me about the weather in {p}{w}.", "any news on the weather in {p}{w}", "What's the sky up to in {p}{w}?",
        "I'm flying to {p}. Weather{w}?", "my sister lives in {p}, what's it like there{w}", "Update me on {p}{w}.",
    ],
    ("general", True): [
        "Is it nice in {p}{w}?", "is it a nice day in {p}{w}", "Is the weather good in {p}{w}?", "good day for a walk in {p}{w}?",
        "Is it decent out in {p}{w}?", "is it t-shirt weather in {p}{w}", "Lovely day in {p}{w}?",
        "Would you say it's pleasant in {p}{w}?",
    ],
    ("rain", True): [
        "Will it rain in {p}{w}?", "is it going to rain in {p}{w}", "Do I need an umbrella in {p}{w}?", "any rain in {p}{w}?",
        "should i bring a brolly in {p}{w}", "gonna rain in {p}{w}?", "Is rain expected in {p}{w}?", "will i get wet in {p}{w}",
        "umbrella in {p}{w}?", "Is it raining in {p}{w}?", "is there going to be rain in {p}{w}", "Should I take a rain jacket to {p}{w}?",
        "does it look wet in {p}{w}", "Any showers in {p}{w}?",
    ],
    ("rain", False): [
        "How much rain is {p} getting{w}?", "what are the chances of rain in {p}{w}", "rain chance {p}{w}?",
        "How wet will it be in {p}{w}?",
    ],
    ("snow", True): [
        "Will it snow in {p}{w}?", "is it snowing in {p}{w}", "Any snow in {p}{w}?", "is snow on the way in {p}{w}",
        "Snow in {p}{w}?",
    ],
    ("wind", True): ["Is it windy in {p}{w}?", "is it blowing a gale in {p}{w}", "too windy for cycling in {p}{w}?", "Is it breezy in {p}{w}?"],
    ("wind", False): ["How windy is it in {p}{w}?", "what's the wind like in {p}{w}", "wind speed in {p}{w}?", "How strong is the wind in {p}{w}?"],
    ("storm", True): ["Any thunderstorms in {p}{w}?", "will there be storms in {p}{w}", "Is a storm coming to {p}{w}?"],
    ("sun", True): ["Will it be sunny in {p}{w}?", "is the sun out in {p}{w}", "Any sunshine in {p}{w}?", "sunny in {p}{w}?"],
    ("cloud", True): ["Is it cloudy in {p}{w}?", "will it be overcast in {p}{w}", "Grey skies in {p}{w}?"],
    ("fog", True): ["Is it foggy in {p}{w}?", "any fog in {p}{w}"],
    ("humid", True): ["Is it humid in {p}{w}?", "is it muggy in {p}{w}"],
    ("humid", False): ["How humid is it in {p}{w}?", "what's the humidity in {p}{w}"],
    ("hot", True): ["Is it hot in {p}{w}?", "will it be hot in {p}{w}", "Shorts weather in {p}{w}?", "is it scorching in {p}{w}"],
    ("hot", False): ["How hot is it in {p}{w}?", "how hot will it get in {p}{w}"],
    ("warm", True): ["Is it warm in {p}{w}?", "will it be warm enough for the beach in {p}{w}", "Is it mild in {p}{w}?"],
    ("cold", True): ["Is it cold in {p}{w}?", "Do I need a coat in {p}{w}?", "is it freezing in {p}{w}", "will it be chilly in {p}{w}",
                     "Do I need gloves in {p}{w}?", "jacket weather in {p}{w}?"],
    ("cold", False): ["How cold is it in {p}{w}?", "how cold will it get in {p}{w}", "What's the temperature in {p}{w}?",
                      "temp in {p}{w}?", "How warm is it in {p}{w}?", "what temperature is it in {p}{w}"],
}
# What people are doing when they ask; put before a question, it widens the vocabulary the model
# reads without changing what is asked.
CONTEXTS = [
    "Planning a picnic", "Going for a run later", "Walking the dog", "I've got a wedding to go to", "Want to hang the washing out",
    "Heading to the beach", "Driving over", "Flying in", "Cycling to work", "We're going hiking", "The kids have a football match",
    "Thinking of a barbecue", "Off to the market", "Got an outdoor gig", "Need to paint the fence", "Taking the boat out",
    "Doing the school run", "Going camping", "Meeting friends for drinks outside", "Playing golf", "Moving house", "Visiting my gran",
    "Training for a marathon", "Mowing the lawn", "Photographing the sunset", "Kite festival", "Open-air cinema", "Fishing trip",
    "Sightseeing on foot", "Gardening", "Climbing", "Road trip", "Walking tour", "Outdoor yoga class", "Wedding photos outside",
    "Delivering parcels all day", "Picking strawberries", "Car boot sale", "Washing the car", "Skateboarding with friends",
    "Got a job interview across town", "Hosting a garden party", "Flying a drone", "Laying a patio", "Setting up a market stall",
    "Taking photos of the old town", "Running errands", "Going to a festival", "Bird watching", "Surfing lesson", "Sailing",
    "Ice skating", "Planting tomatoes", "Cleaning the windows", "Going to the zoo", "Commuting by scooter", "Visiting a vineyard",
    "Walking to the stadium", "First date at an outdoor cafe", "Repainting the shed", "Jogging with the pram", "Long bike ride",
]

# Units the user may ask for, appended to a question (the answer then leads with them).
FAHRENHEIT_ASKS = [" in fahrenheit", " in °F", " (in F please)", ", in Fahrenheit please", " in degrees F"]
MPH_ASKS = [" in mph", " (mph please)", ", miles per hour please"]


# ----------------------------------------------------------------------------- SNIPS templates

LOCATION = ("city", "state", "country", "geographic_poi")
_PREPOSITIONS = ("at", "on", "in", "for", "by", "during", "around", "from", "within", "of")
_NOW = re.compile(r"^(now|right now|currently|at the moment|at present|(in )?(one|1|a) (minute|second|min)s?( from now)?|"
                  r"(in )?(one|1|two|2|three|3|twenty three|23) (minute|second)s?( from now)?)$", re.IGNORECASE)


@dataclass(frozen=True)
class Template:
    text: str  # with {p} (the place; absent when the user wrote "here") and {w} (time) markers
    focus: str
    yesno: bool
    comparative: bool
    here: bool  # the user gave no place, only "here" / "my current location"
    original_time: str  # the question's own time words ("" when it had none)
    source: str  # "snips" or "own"


def _classify_time(words: str) -> str:
    t = words.lower().strip()
    if _NOW.match(t):
        return "now"
    if re.search(r"\b(19|20)\d\d\b", t):
        year = int(re.search(r"\b((19|20)\d\d)\b", t).group(1))
        return "past" if year < 2025 else "far"
    if re.search(r"\b(last|ago|yesterday)\b", t):
        return "past"
    if re.search(r"\b(year|years|months?|weeks from now|in \w+ weeks|summer|winter|autumn|spring|fall)\b", t):
        return "far"
    if re.search(r"\b(am|pm|o'clock|noon|midnight|sunrise|sunset|breakfast|lunch|dinner|supper|tea|meal|elevenses|\d\d?:\d\d)\b", t):
        return "hour"
    return "day"


def _template_from(row: dict) -> Template | None:
    text = row["text"].strip()
    spans = []
    pos = 0
    for slot in row["slots"]:
        i = text.find(slot["text"], pos)
        if i < 0:
            return None
        spans.append((i, i + len(slot["text"]), slot["entity"], slot["text"]))
        pos = i + len(slot["text"])
    places = [s for s in spans if s[2] in LOCATION]
    # merge neighbouring location slots ("Tioga Colorado", "Portland, OR", "Saint Martin in Port Orford")
    groups: list[list] = []
    for s in places:
        if groups and re.fullmatch(r"[\s,]*(in\s+)?", text[groups[-1][-1][1]:s[0]], re.IGNORECASE):
            groups[-1].append(s)
        else:
            groups.append([s])
    if len(groups) > 1:
        return None
    here = any(s[2] == "current_location" for s in spans)
    if here and groups:
        return None
    times = [s for s in spans if s[2] == "timeRange"]
    if len(times) > 1:
        return None
    edits = []  # (start, end, replacement)
    if groups:
        a, b = groups[0][0][0], groups[0][-1][1]
        before = text[:a]
        m = re.search(r"\bthe\s+$", before, re.IGNORECASE)
        if m:
            a = m.start()
        edits.append((a, b, "{p}"))
    elif not here:
        return None  # no place and no "here": the generic no-place questions are the project's own
    original_time = ""
    if times:
        a, b = times[0][0], times[0][1]
        original_time = times[0][3]
        if re.search(r"\b(sunrise|sunset|dawn|dusk)\b", original_time, re.IGNORECASE):
            return None  # asks for a time of day, not the weather
        m = re.search(r"\b(this|next|the|this coming|right)\s+$", text[:a], re.IGNORECASE)
        if m:
            a = m.start()
        m = re.search(r"\b(" + "|".join(_PREPOSITIONS) + r")\s+$", text[:a], re.IGNORECASE)
        if m:
            a = m.start()
        original_time = text[a:b].strip()
        # the space before the time goes with it: "{w}" brings its own
        while a > 0 and text[a - 1] == " ":
            a -= 1
        edits.append((a, b, "{w}"))
    edits.sort()
    for (_, b1, _), (a2, _, _) in zip(edits, edits[1:], strict=False):
        if a2 < b1:
            return None
    out = text
    for a, b, rep in reversed(edits):
        out = out[:a] + rep + out[b:]
    if "{w}" not in out:
        # a question without a time: the time goes before the place, or at the end
        out = out.rstrip(" ?.") + "{w}" + ("?" if text.rstrip().endswith("?") else "")
    if out.count("{p}") != (0 if here else 1) or out.count("{w}") != 1 or "{" in out.replace("{p}", "").replace("{w}", ""):
        return None
    focus, comparative = "general", False
    for s in spans:
        if s[2] in ("condition_description", "condition_temperature"):
            word = s[3].lower()
            focus = _FOCUS_OF.get(word, "general")
            if word in COMPARATIVES:
                comparative = True
                focus = COMPARATIVES[word]
            if word in ("depression",):
                focus = "general"
    if focus == "general":  # no condition slot: the words may still say it ("will it be raining")
        focus = next((_FOCUS_OF[w] for w in re.findall(r"[a-z]+", out.lower()) if w in _FOCUS_OF and w not in ("clear", "cool", "mild")), "general")
        comparative = comparative or any(w in COMPARATIVES for w in re.findall(r"[a-z]+", out.lower()))
    yesno = bool(YESNO_START.match(out.replace("{w}", "").strip())) and focus != "general"
    return Template(out, focus, yesno, comparative, here, original_time, "snips")


@lru_cache(maxsize=1)
def snips_templates() -> tuple[Template, ...]:
    """The SNIPS phrasing questions that became templates (the others are skipped, see run())."""
    out, seen = [], set()
    for row in snips.phrasing():
        t = _template_from(row)
        if t is not None and t.text not in seen:
            seen.add(t.text)
            out.append(t)
    return tuple(out)


def fill_time(template: str, words: str) -> str:
    """Put the time words into `{w}` with the spacing a sentence needs."""
    words = words.strip()
    if not words:
        return template.replace("{w}", "")
    return template.replace("{w}", " " + words)


# ----------------------------------------------------------------------------- places as users write them


@dataclass(frozen=True)
class Mention:
    """How the user wrote a place, and the geocode arguments those words give."""
    text: str
    args: dict
    city: gazetteer.City


def mention(rng, city: gazetteer.City, lower: bool = False, hint: str | None = None) -> Mention:
    """The user's words for `city`: the name, sometimes with its country, a native name or a misspelling.

    The geocode arguments are taken from these very words (the city as written, the country only when
    written), so a call never adds or drops what the user said."""
    natives = [a for a, n in gazetteer.NATIVE_NAMES.items() if n == city.name]
    typos = [a for a, n in gazetteer.MISSPELLINGS.items() if n == city.name]
    r = rng.random()
    if natives and r < 0.35:
        name = rng.choice(natives)
    elif typos and r < 0.6:
        name = rng.choice(typos)
    else:
        name = city.name
    args = {"city": name}
    text = name.lower() if lower else name
    if hint is not None:
        text = f"{text}, {hint}" if rng.random() < 0.7 else f"{text} {hint}"
    elif rng.random() < 0.15 or city.name in gazetteer.AMBIGUOUS:
        country = city.country
        text = f"{text}, {country.lower() if lower else country}" if rng.random() < 0.8 else f"{text} in {country}"
        args["country"] = country
    return Mention(text, args, city)


HERE_WORDS = ["here", "near me", "where I am", "around here", "my location", "outside"]


def run() -> None:
    rows = snips.phrasing()
    temps = snips_templates()
    ui.info(TAG, f"{len(rows)} SNIPS phrasing questions, {len(temps)} became templates "
                 f"({sum(t.here for t in temps)} about 'here', {sum(t.yesno for t in temps)} yes/no, "
                 f"{sum(bool(t.original_time) for t in temps)} with a time)")
    for t in temps[:12]:
        print(f"  [{t.focus}{', yes/no' if t.yesno else ''}] {t.text}   (time was: {t.original_time!r})")
    ui.success(f"{sum(len(v) for v in OWN.values())} own templates in {len(OWN)} groups")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    return ui.main_guard(run)


if __name__ == "__main__":
    raise SystemExit(main())
