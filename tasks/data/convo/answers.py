"""Weather answers: the first sentence answers the question (a verdict only for a yes/no question, the
variable asked about, the day asked about), every number a tool figure or an exact conversion of one.
"""

from __future__ import annotations

import datetime as dt

from tasks.data import gazetteer, phrasing, weather
from tasks.data.convo.common import (
    Ask,
    Conversation,
    article,
    be,
    cap,
    day_name,
    expand,
    fmt,
    geocode_call,
    join,
    rows_of,
    span,
    temp,
    weather_call,
    wind,
)
from tasks.data.convo.voice import mood_now, mood_of, mood_rows, voiced
from tasks.data.phrasing import number_word

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
        return core, verdict if ask.yesno else None  # "what is the colder forecast ...?" asks for no verdict
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
        "wind": ["[The wind is|Wind is running at|Winds are at|Wind speed is] {W}.", "[Expect|You'll feel] [wind at|winds near|a breeze of|an average wind of] {W}[ outside|]."],
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


def named(c: Conversation, city: gazetteer.City, ask: Ask, user_text: str, m: phrasing.Mention) -> dict:
    c.user(user_text)
    c.call(*geocode_call(c, m))
    payload = c.call(*weather_call(c, city, ask))
    answer(c, ask, city.name, payload)
    return payload


def answer_change(c: Conversation, ask: Ask, place: str, payload: dict) -> None:
    """"Will it be any different tomorrow?": the day asked about against today, from the same forecast
    (today's row is its first), with a verdict, since the question asks for a yes or a no."""
    rng = c.rng
    rows = rows_of(payload)
    start = dt.date.fromisoformat(rows[0]["time"])
    today, row = rows[0], rows[ask.when.day]
    label = day_name(c, start, ask.when.day)
    diff = row["hi"] - today["hi"]
    clear = (0, 1)  # "clear" and "mostly clear" are one sky to a person
    same_sky = row["weather_code"] == today["weather_code"] or row["weather_code"] in clear and today["weather_code"] in clear
    v = {"place": place, "day": label, "dayn": label.removeprefix("on "), "hi": temp(row["hi"], ask),
         "hi0": temp(today["hi"], ask), "desc": row["desc"], "desc0": today["desc"]}
    if abs(diff) < 1.0:
        warmth = rng.choice(["{dayn} in {place} is about as warm as today", "{place} is about as warm {day} as today"])
    else:
        word = "warmer" if diff > 0 else "cooler"
        warmth = rng.choice(["{dayn} in {place} is " + word, "{place} turns " + word + " {day}", "{place} is " + word + " {day}"])
    sky = "[with {desc} again|under {desc} again, as today]" if same_sky else "[with {desc} after today's {desc0}|with {desc} where today has {desc0}]"
    core = expand(rng, warmth + rng.choice([", [peaking at|with a high of|topping out at] {hi} against today's {hi0}, ",
                                            ": a high of {hi} against {hi0} today, "]) + sky, **v)
    verdict = "no" if abs(diff) < 1.0 and same_sky else "partly" if abs(diff) < 3.0 and same_sky else "yes"
    c.say(voiced(c, core, verdict, [], mood_of(row["weather_code"], row["hi"]), place))
