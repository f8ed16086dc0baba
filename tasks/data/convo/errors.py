"""Conversations the tools cannot answer as asked: hourly, historical, UV or air questions, an unknown
place, a failing tool, a forecast beyond fourteen days.
"""

from __future__ import annotations

import datetime as dt
import re

from tasks.data import gazetteer, phrasing, weather
from tasks.data.convo.answers import answer, core_day
from tasks.data.convo.common import (
    Ask,
    Conversation,
    cap,
    choose_ask,
    expand,
    fill,
    geocode_call,
    mess,
    pick_city,
    question,
    rows_of,
    weather_call,
)
from tasks.data.convo.voice import verdict_word, voiced_error
from tasks.data.phrasing import When, number_word

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
            caveat += " " + expand(rng, "[Better an honest day than a doubtful hour|A whole fact is worth more than half a guess|A day told true beats an hour guessed|The whole day, honestly reported, is the better bargain][, friend|, neighbour|].")
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
                      "[fourteen days|two weeks] ahead, [not history|nothing from the past]. [I can tell you what {p} is like now, or what's coming|Want today's weather in {p}, or the days ahead|Shall I get {p}'s current conditions or its forecast|Would {p}'s weather now, or the next few days, help] [instead|in its place|as a substitute]?",
                      p=city.name)
    elif kind == "uv":
        text = expand(rng, lead + "[I don't get a UV index|UV isn't among the figures my tools return], so I can't [give you one|tell you how strong the sun is]. "
                      "[I can check|I can look up|What I can tell you is] whether {p} has [clear skies or cloud|sun or cloud|a clear sky] [right now|today|at the moment], [if that helps|which is a rough guide|as a rough stand-in].", p=city.name)
    else:
        text = expand(rng, lead + "[Air quality and pollen aren't|I have no air-quality or pollen figures: they're not] part of what my weather tools return. "
                      "[I can give you the current conditions in {p}|I can check {p}'s weather|I can fetch {p}'s forecast|I can tell you what {p}'s sky is doing] [instead|in their place|as the next best thing], [if that's useful|if that helps|if you like|should you want it].", p=city.name)
    if p.name == "twain" and rng.random() < 0.6:
        text += " " + expand(rng, "[A man who invents what he doesn't know|Guessing and calling it a forecast|Making up a figure and printing it|A confident guess] [is in politics, not weather|ought to run for office instead|belongs in a campaign speech|is how newspapers fill a slow day|is a trade I gave up on the river].")
    if p.name == "franklin" and rng.random() < 0.6:
        text += " " + expand(rng, "[Better an honest blank than a confident error|A plain 'I don't know' costs less than a wrong answer|An empty column is more honest than a full one made up|Say what you know and no more|A wise man admits the edge of his almanac][, friend|, neighbour|, as the almanac would have it|].")
    c.say(text)


UNKNOWN_CLAUSES = [
    "[I couldn't find|I can't find|the geocoder found no place called|there's no match for] {bad}[ in the geocoding service| on any map I can read|].",
    "{bad} [doesn't turn up|isn't found|returns no results] in the geocoding service.",
    "[my|the] [geocoding|place] search for {bad} came back empty.",
]
UNKNOWN_OFFERS = [
    "[Could you check the spelling|Could you add the country|Could you give me the country or region|Could you spell it another way][, please| for me|]?",
    "[Is there a larger town nearby|Is it near a bigger city|Is there a neighbouring town] [I could try|I could look up instead|that I could check]?",
    "If you give me the [latitude and longitude|coordinates], I can [look up the weather directly|check it straight away].",
    "[Tell me|Give me] [a nearby city|the nearest larger town|the country it's in] and I'll [try again|look again|check that instead].",
]


def scenario_error_unknown_place(c: Conversation, tags: dict) -> None:
    rng = c.rng
    bad = gazetteer.invented_place(rng)
    ask, template = choose_ask(c, ("now", "day", "range"))
    lower = rng.random() < 0.2
    c.user(question(c, ask, bad.lower() if lower else bad, template, lower))
    c.call("geocode_location", {"city": bad}, weather.geocode_result([]))
    clause = expand(rng, rng.choice(UNKNOWN_CLAUSES), bad=bad)
    c.say(voiced_error(c, clause, expand(rng, rng.choice(UNKNOWN_OFFERS)), bad, "unknown_place"))
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
        "[Please try again|Try asking again|Ask me again|Give it another go] in a [little while|few minutes|minute or two|moment][, and I'll fetch it then|; it is usually brief|].",
    ]))
    c.say(voiced_error(c, clause, offer, city.name, "tool"))
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
    c.say(voiced_error(c, clause, offer, city.name, "too_far"))
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
