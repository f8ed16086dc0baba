"""Multi-turn conversations: later turns lean on earlier ones (there, the day after, another city, °F).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from tasks.data import phrasing
from tasks.data.convo.answers import answer, answer_change, named
from tasks.data.convo.common import (
    THANKS,
    Ask,
    Conversation,
    choose_ask,
    day_name,
    geocode_call,
    mess,
    pick_city,
    question,
    weather_call,
)
from tasks.data.convo.voice import ask_where, farewell
from tasks.data.phrasing import When

FOLLOW_PLACE = ["And {p}?", "what about {p}", "How about {p}?", "and in {p}", "same for {p}", "Now {p}, please.", "ok and {p}?"]
FOLLOW_NEXT_DAY = ["And the day after?", "what about the day after", "and the next day?", "How about the following day?"]
FOLLOW_TOMORROW = ["And tomorrow?", "what about tomorrow", "Will it be any different tomorrow?", "and tmrw?", "OK, and tomorrow there?"]
FOLLOW_FOCUS = {"rain": ["Will it rain there?", "any rain there", "Do I need an umbrella there?"],
                "wind": ["Is it windy there?", "how windy is it there", "what's the wind doing there"],
                "cold": ["Is it cold there?", "do I need a coat there", "how cold is it there?"]}
CHANGE_ASK = re.compile(r"\bany different\b", re.IGNORECASE)
FOLLOW_UNITS = ["In Fahrenheit please?", "can you give that in fahrenheit", "what's that in F?"]


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
    said = {" ".join(m["content"].lower().split()) for m in c.messages if m["role"] == "user"}

    def follow(pool: list[str], fill_in: str = "") -> str | None:
        """A follow-up from `pool` that repeats no earlier user turn of the conversation (None: all would)."""
        for _ in range(8):
            text = mess(rng, c.pick(pool).replace("{p}", fill_in), lower)
            if " ".join(text.lower().split()) not in said:
                said.add(" ".join(text.lower().split()))
                return text
        return None

    units_done = False
    for _ in range(turns):
        move = rng.choice(["next_day", "place", "focus", "units", "place", "next_day"])
        weather_calls = sum(tc["function"]["name"] in ("get_current_weather", "get_forecast")
                            for m in c.messages for tc in m.get("tool_calls") or [])
        size = sum(len(m.get("content") or "") + len(json.dumps(m.get("tool_calls") or "")) for m in c.messages)
        # A dialogue stays within 2,048 tokens with the tools block: about 3,000 characters of messages
        # (tool results are dense JSON), so a further weather round only while under 2,000.
        if (weather_calls >= 3 or size > 2000) and move != "units":
            move = "units" if rng.random() < 0.5 else "stop"
        if move == "units" and (size > 2600 or units_done):
            move = "stop"
        if move == "stop":
            break
        if move == "next_day":
            day = ask.when.day + 1 if ask.when.kind != "now" else 1
            if day > 13:
                move = "place"
            else:
                text = follow(FOLLOW_TOMORROW if day == 1 else FOLLOW_NEXT_DAY)
                if text is None:
                    break
                new = replace(ask, when=When("day", day, day + 1, "", day_name(c, c.now.date(), day)), yesno=False, focus="general", comparative=False)
                c.user(text)
                fc = forecasts.get(city.name)
                if fc is None or len(fc["daily"]["time"]) <= day:
                    fc = c.call(*weather_call(c, city, new))
                    forecasts[city.name] = fc
                else:  # the forecast already on the table covers it: no call
                    new = replace(new, when=replace(new.when, days=len(fc["daily"]["time"])))
                if CHANGE_ASK.search(text):  # "will it be any different tomorrow?" gets tomorrow against today
                    answer_change(c, new, city.name, fc)
                else:
                    answer(c, new, city.name, fc)
                ask = new
                continue
        if move == "place":
            other = pick_city(c, avoid=tuple(known))
            m = phrasing.mention(rng, other, lower)
            text = follow(FOLLOW_PLACE, m.text)
            if text is None:
                break
            c.user(text)
            c.call(*geocode_call(c, m))
            payload = c.call(*weather_call(c, other, ask))
            (forecasts if "daily" in payload else currents)[other.name] = payload
            answer(c, ask, other.name, payload)
            known[other.name] = other
            city = other
            continue
        if move == "focus":
            focus = rng.choice(sorted(FOLLOW_FOCUS))
            text = follow(FOLLOW_FOCUS[focus])
            if text is None:
                break
            # a verdict only for a yes/no question: "is it windy there?", not "how windy is it there"
            new = replace(ask, focus=focus, yesno=bool(phrasing.YESNO_START.match(text)), comparative=False, mph=False)
            if focus == "wind" and new.when.kind != "now":
                new = replace(new, when=When("now", label="right now"))
            c.user(text)
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
        text = follow(FOLLOW_UNITS)
        if text is None:
            break
        c.user(text)
        units_done = True
        new = replace(ask, fahrenheit=True, yesno=False)
        last = json.loads(next(m["content"] for m in reversed(c.messages) if m["role"] == "tool"))
        answer(c, new, city.name, last)
        ask = new
    if rng.random() < 0.3 and sum(len(m.get("content") or "") for m in c.messages) < 2800:
        text = follow(THANKS)
        if text is not None:
            c.user(text)
            c.say(farewell(c))
