"""Conversations that get the weather in one turn: a place by name, coordinates, two places compared, a
name the geocoder finds several times.
"""

from __future__ import annotations

from dataclasses import replace

from tasks.data import gazetteer, phrasing, weather
from tasks.data.convo.answers import answer, named
from tasks.data.convo.common import (
    Ask,
    Conversation,
    choose_ask,
    expand,
    fill,
    fmt,
    geocode_call,
    mess,
    pick_city,
    question,
    temp,
    weather_call,
)
from tasks.data.convo.voice import mood_now, mood_of, voiced

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
    ask = replace(ask, yesno=False)  # none of these questions asks for a yes or a no
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
    if now:  # no sun advice while either place is in the dark
        mood = mood_now(pa["current"], pb["current"])
    else:
        mood = mood_of(pa["daily"]["weather_code"][when.day], ta)
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
            "There's more than one {n}: {o}. [Which do you mean|Which one is yours|Which should I check|Which one did you have in mind]?",
            "I found [several|two] places called {n}: {o}. [Which one|Which of them|Which one do you want|Which one shall I look up]?",
            "{n} could be {o}; which should I check?",
        ]), n=name, o=" or ".join(options))
        if c.persona.name == "twain":
            q = expand(rng, "[There are|I count] more [places|towns] named {n} than [a man can keep straight|one name can carry]: {o}. [Which one|Which do you mean|Which is yours|Which shall I ask after|Which one's sky do you want]?", n=name, o=" or ".join(options))
        elif c.persona.name == "franklin":
            q = expand(rng, "[The name|That name] {n} serves [more than one town|several places]: {o}. [Which|Which of them|Which one] [shall I consult|do you mean|is yours][, friend|, neighbour|]?", n=name, o=" or ".join(options))
        elif c.persona.name == "onion":
            q = expand(rng, "[Two Cities Named {n} Refuse To Back Down|Rival Towns Named {n} Both Claim Reader|Geocoder Finds Too Many {n}s, Desk Seeks Guidance|Naming Dispute Over {n} Reaches Weather Desk]\n\n[The geocoder returned|The lookup turned up|Search results list|The map offers] {o}. [Which one|Which of them|Which is it], [sources asked|the desk asked|an editor wanted to know|reporters pressed]?", n=name, o=" or ".join(options))
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
