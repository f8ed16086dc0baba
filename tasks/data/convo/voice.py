"""The voice around the facts: verdict words, the mood of the weather, advice, the Onion's headlines and
witnesses, and each persona's way of asking, failing and saying goodbye.
"""

from __future__ import annotations

from tasks.data import weather
from tasks.data.convo.common import Conversation, cap, expand
from tasks.data.convo.onion import onion_answer

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


# ----------------------------------------------------------------------------- moods and the voice around the facts


def is_night(now: dict) -> bool:
    """Whether a current reading was taken after dark, by the place's own clock."""
    hour = int(now["time"][11:13])
    return hour < 6 or hour >= 20


def mood_now(now: dict, *others: dict) -> str:
    """The mood of a current reading; "night" for a fair or hot one while it, or any of `others` (the
    other places of the same answer), is in the dark: no sunscreen, shade or picnic advice after dark."""
    mood = mood_of(now["weather_code"], now["temperature_2m"], now["wind_speed_10m"])
    return "night" if mood in ("fair", "hot") and any(is_night(x) for x in (now, *others)) else mood


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
    "windy": ["[Expect|Watch for] [a strong wind|a stiff wind|strong winds][; secure loose items outdoors| on exposed ground|].",
              "[Hold on to your hat|Secure anything loose outdoors|Leave the umbrella at home][ if you head out|; the wind is strong|]."],
    "fair": ["[It's|It looks like] [a good|a fine|a decent] [day|time|spell] for [a walk|being outdoors|a picnic|a bike ride|errands on foot].",
             "[No umbrella needed|Leave the umbrella behind|Skip the umbrella|No need for a brolly][ today| this time|].",
             "[Sunglasses|A hat|Sunscreen] [may be|could be|might be] [useful|worth packing|handy] [if you're out for long|later on|around midday]."],
    "night": ["[The sun is down|It's dark out now|It's night there], so [dress for the temperature|a layer for later is plenty|no sun protection is needed][ if you head out|]."],
    "mild": ["[A light jacket|A light layer|A sweater|A thin coat|A cardigan|A long-sleeved top] [should be enough|will do|is plenty|ought to do|should cover it][ if you head out| for the day| outdoors|]."],
    "fog": ["[Visibility may be poor|Fog can cut visibility], so [drive carefully|allow extra time on the roads|take care on the roads]."],
}


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
        return onion_answer(rng, place, mood, parts)
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


def farewell(c: Conversation) -> str:
    return expand(c.rng, c.rng.choice(c.persona.farewells))


def ask_where(c: Conversation) -> str:
    rng, p = c.rng, c.persona
    base = expand(rng, rng.choice([
        "[Which city|Which town|What place|Which place] [are you asking about|should I check|do you mean|shall I look up|is this for|are you in]?",
        "[I need a place to look up|I'll need a town first|A city name would help|I need a town or city to go on]: [which one is it|where are you|where should I look|which place do you mean]?",
        "[Could you tell me|Would you give me|Can you name] the [city|town|place][ you mean|], so I can [check it|look it up|fetch its weather|get its forecast][ right away| at once|]?",
    ]))
    if p.name == "twain":
        return expand(rng, rng.choice([
            "[I can't read|I can't report on|Nobody can forecast] [the sky over|the weather in] a town [I haven't been told|nobody has named|without a name].",
            "[Even a river pilot|A pilot] [needs to know|has to be told] [which river|which landing|where he's bound].",
            "[I'd need|I'll want] [a town|a name on the map|a place] [before I go asking the sky|to point my instruments at|to look up].",
        ])) + " " + base
    if p.name == "franklin":
        return expand(rng, rng.choice([
            "[A forecast needs a place|A weather report wants a town], [as a letter needs an address|as a printer needs copy], [friend|neighbour].",
            "[Observation|Good observation] [begins with|starts from] [a location|a place on the map], [friend|neighbour|citizen].",
            "[I cannot|No man can] [observe|report on] [a sky|the weather] [I have not been given|without a town to put it over].",
        ])) + " " + base
    if p.name == "onion":
        return expand(rng, "[Weather Desk|Newsroom|Reporters|Entire Staff] [Unable To Locate|Stumped By|Searching For|Baffled By] [User|Mystery Location|Unnamed Town|Reader's Whereabouts]\n\n"
                      "[Staff are standing by|Reporters have their coats on|Pencils have been sharpened|The van is warmed up|Notebooks are open] [, but|; sadly|, yet] [there is no address|nobody knows the city|the destination is blank|the map is empty].").replace(" ,", ",").replace(" ;", ";") + " " + base
    return base


# What each voice adds to an error, by cause: a joke about machines only where a tool failed.
# Quoted lines are attributed where they stand; the rest is written for this project.
ERROR_ASIDES = {
    "twain": {
        "unknown_place": [
            "[I've seen a good deal of the map|I have piloted past a good many towns], [and that one is not among them|but never that one]; [either it is very small or very new|it may be a town nobody has told it exists].",
            "[A town no map has heard of|A place the map has never met] [does well in a novel|is a fine thing in a novel] [and poorly in a forecast|but is no use to a forecast].",
            "[I'd rather|Better to] [admit a blank|own up to a blank] than [invent a town|make up a sky], [which is a vice I leave to the newspapers|though the temptation is considerable].",
        ],
        "tool": [
            "[Machinery has|Telegraphs have|Contraptions of every kind have] [failed me|let me down|quit on me] [before|many a time|in my day]; [I have learned patience|it builds character, they tell me|I bear them no grudge|I forgive them, mostly].",
            "[A machine|The apparatus|This gadget] [that sulks|that won't answer|that refuses to talk] [is|makes] [a poor|a sorry|an unhelpful] [witness|correspondent|informant], [but|and] [I'll|I will] [try it again|knock again|give it another chance] [if you say so|when you like|at your word].",
            "[The wire has gone quiet|The line is dead for now|The instruments have stopped talking]; [I have known mules more obliging|a mule would be more forthcoming|I've had better conversation from a fence post].",
        ],
        "too_far": [
            "[Weather a month off|A forecast past two weeks] is prophecy, and I [gave up prophecy young|leave that trade to the almanacs|never had the knack for it].",
            # "Get your facts first, and then you can distort them as you please": Twain to Kipling, in Kipling's From Sea to Sea (1899).
            "[I was once advised|I have been known to advise] to get the facts first and distort them afterwards; [past two weeks there are no facts to get|beyond a fortnight there is nothing to start from].",
            "[The sky|The weather] [doesn't know|hasn't decided] [what it will do next month|that far ahead] [itself|either], [and I won't pretend it has|so I won't speak for it].",
        ],
    },
    "franklin": {
        "unknown_place": [
            "[A letter with no address|A parcel with no direction] [finds no door|goes nowhere], [and a forecast fares no better|and so it is with a forecast].",
            "[Spell it once more|Try the name again], [friend|neighbour]: [a slip of the pen|a small error in a name] [sends the post astray|makes a long journey].",
            "[An honest blank|A gap in the record|An empty column] [is better than|is worth more than] [a confident error|a printed guess|a tall tale] [in any almanac|on any page].",
        ],
        "tool": [
            "[Patience|A little patience] [is cheaper than a guess|costs less than an error].",
            # "Lost time is never found again": Poor Richard's Almanack, 1748.
            "Lost time is never found again, [as Poor Richard says|says Poor Richard], [so give the word and I'll try at once|so I'll try again the moment you ask].",
            "[Better to wait for the fact|A fact worth having is worth waiting for] than [to act on a rumour|to print a guess|to send a false report].",
        ],
        "too_far": [
            "[An almanac may print a year's weather|Almanacs print a whole year's weather], but [a prudent man plants by the fortnight|I would not stake a harvest on it].",
            # "Have you somewhat to do to-morrow, do it to-day": Poor Richard's Almanack, 1742.
            "Have you somewhat to do tomorrow, do it today, [as Poor Richard says|says Poor Richard]; [the fortnight is what can be known|two weeks of fact beat a month of guessing].",
            "[Prudence|Good sense] [asks for|wants] [what can be known|a forecast it can trust], [and the sky keeps no books past two weeks|and the sky's books close at two weeks].",
        ],
    },
}
ONION_ERROR_HEADS = {
    "unknown_place": ["[Search For|Hunt For|Desperate Search For] {place} [Turns Up Nothing|Comes Back Empty|Ends Without A Trace]",
                      "[Weather Desk|Newsroom|Entire Staff] [Comes Up Empty|Left Empty-Handed|Stumped] [After Search|In Hunt For {place}|On {place}]",
                      "[Cartographers|Mapmakers|Geographers] [Deny Knowledge Of|Have Never Heard Of|Baffled By] {place}"],
    "tool": ["[Tool|Computer|Weather Machine] [Malfunction|Outage|Hiccup] [Leaves|Strands] [Weather Desk|Reporters|Staff] [Staring At Screen|Refreshing Page|Without A Story]",
             "[Weather Service|Data Feed|Forecast Server] [Goes Silent|Stops Answering|Takes Unscheduled Break], [Newsroom|Weather Desk] [Waits|Refreshes Hopefully]"],
    "too_far": ["[Weather Desk|Forecasters|Newsroom] [Refuse|Decline|Politely Decline] To [Predict|Guess|Speculate] Past [Two Weeks|Fortnight]",
                "[Reader|Local Planner|Area Optimist] [Asks|Requests] [Forecast For Distant Future|Weather For Next Month], [Told No|Offered Fortnight Instead]"],
}


def voiced_error(c: Conversation, clause: str, offer: str, place: str, cause: str) -> str:
    """A failure told in the persona's voice (cause: unknown_place, tool or too_far): no weather jokes,
    since there is no weather to report, and no joke about machines unless a tool failed."""
    rng, p = c.rng, c.persona
    body = (rng.choice(p.apologies) + " " + clause if rng.random() < 0.7 else cap(clause)) + " " + offer
    if p.name == "onion":
        head = expand(rng, rng.choice(ONION_ERROR_HEADS[cause]), place=place)
        return f"{head}\n\n{cap(body)}"
    if p.name in ERROR_ASIDES and rng.random() < 0.85:
        body += " " + expand(rng, rng.choice(ERROR_ASIDES[p.name][cause]))
    return cap(body)
