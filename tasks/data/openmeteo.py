"""Open-Meteo answers shaped into the tool results the model sees: one shape for training and for the live tools.

Both the generator (tasks/data) and the live tools (tasks/serve/tools.py) pass an Open-Meteo-style answer
through these functions, so a training tool message and a live one built from the same answer are the
same JSON: same fields, same rounding (coordinates to two decimals), the same rule for which places of a
shared name are kept, names with their accents as Open-Meteo spells them, and current readings at the
quarter-hour Open-Meteo reports them on.
"""

from __future__ import annotations

import datetime as dt

from tasks.data import weather

CURRENT_FIELDS = ("temperature_2m", "apparent_temperature", "relative_humidity_2m", "precipitation", "weather_code", "wind_speed_10m")
DAILY_FIELDS = ("weather_code", "temperature_2m_max", "temperature_2m_min", "precipitation_sum", "precipitation_probability_max")
INTEGER_FIELDS = ("relative_humidity_2m", "weather_code", "precipitation_probability_max")

# Open-Meteo returns up to `count` places of a name, villages included, largest first. Keep the first
# place, then the others of at least this population, at most MAX_PLACES in all (Portland, Oregon and
# Maine; San Jose; Valencia; Cordoba).
SIZEABLE_PLACE = 50_000
MAX_PLACES = 4


# Names people (and so the model, copying them) give countries that Open-Meteo names otherwise.
COUNTRY_ALIASES = {
    "usa": "US", "u.s.": "US", "u.s.a.": "US", "america": "US", "united states of america": "US",
    "uk": "GB", "u.k.": "GB", "britain": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB",
}


# US state abbreviations as people write them after a city ("Portland, OR"): Open-Meteo's admin1 is the name.
US_STATES = {
    "al": "Alabama", "ak": "Alaska", "az": "Arizona", "ar": "Arkansas", "ca": "California", "co": "Colorado",
    "ct": "Connecticut", "de": "Delaware", "fl": "Florida", "ga": "Georgia", "hi": "Hawaii", "id": "Idaho",
    "il": "Illinois", "in": "Indiana", "ia": "Iowa", "ks": "Kansas", "ky": "Kentucky", "la": "Louisiana",
    "me": "Maine", "md": "Maryland", "ma": "Massachusetts", "mi": "Michigan", "mn": "Minnesota", "ms": "Mississippi",
    "mo": "Missouri", "mt": "Montana", "ne": "Nebraska", "nv": "Nevada", "nh": "New Hampshire", "nj": "New Jersey",
    "nm": "New Mexico", "ny": "New York", "nc": "North Carolina", "nd": "North Dakota", "oh": "Ohio", "ok": "Oklahoma",
    "or": "Oregon", "pa": "Pennsylvania", "ri": "Rhode Island", "sc": "South Carolina", "sd": "South Dakota",
    "tn": "Tennessee", "tx": "Texas", "ut": "Utah", "vt": "Vermont", "va": "Virginia", "wa": "Washington",
    "wv": "West Virginia", "wi": "Wisconsin", "wy": "Wyoming", "dc": "District of Columbia",
}


def country_matches(wanted: str, result: dict) -> bool:
    """Does the result lie in `wanted` (a country name, an ISO code or a common alias; case-blind)?"""
    wanted = wanted.strip().casefold()
    name, code = str(result.get("country", "")).casefold(), str(result.get("country_code", "")).casefold()
    return wanted in (name, code) or COUNTRY_ALIASES.get(wanted, "").casefold() == code


def region_matches(wanted: str, result: dict) -> bool:
    """Does the result lie in the state or region `wanted` ("Oregon", "OR", "Île-de-France"; case-blind)?"""
    wanted = wanted.strip().casefold()
    region = str(result.get("admin1", "")).casefold()
    return bool(region) and (wanted == region or US_STATES.get(wanted, "").casefold() == region)


def narrow(results: list, wanted: str) -> list:
    """The results in country `wanted`, else those in region `wanted`, else all of them (the model sees where each lies).

    The live tool (tasks/serve/tools.py) and the generator (gazetteer.geocode_all) filter with this one rule."""
    places = [r for r in results if isinstance(r, dict)]
    for matches in (country_matches, region_matches):
        kept = [r for r in places if matches(wanted, r)]
        if kept:
            return kept
    return places


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def shape_geocode(results: list, asked: str) -> dict:
    """{"results": [{name, latitude, longitude[, elevation], country, country_code[, admin1]}]} from Open-Meteo's
    `results` list (already filtered to the asked country); {"results": []} when nothing is left."""
    hits, regions = [], []
    for r in results:
        if not (isinstance(r, dict) and is_number(r.get("latitude")) and is_number(r.get("longitude"))):
            continue
        if hits and (len(hits) >= MAX_PLACES or not is_number(r.get("population")) or r["population"] < SIZEABLE_PLACE):
            continue
        # Two decimals (about 1 km), as every coordinate the model was trained on.
        hit = {"name": r.get("name", asked), "latitude": round(float(r["latitude"]), 2), "longitude": round(float(r["longitude"]), 2)}
        if is_number(r.get("elevation")):
            hit["elevation"] = float(r["elevation"])
        hit.update({k: r[k] for k in ("country", "country_code") if r.get(k)})
        hits.append(hit)
        regions.append(r.get("admin1"))
    if len(hits) > 1:  # the state or region comes with a place whose name others share
        for hit, region in zip(hits, regions, strict=True):
            if region:
                hit["admin1"] = region
    return {"results": hits}


def value(key: str, x):
    """Integers where the tool gives integers, floats elsewhere; null stays null (Open-Meteo's missing value)."""
    if x is None or not is_number(x):
        return None
    return int(round(x)) if key in INTEGER_FIELDS else float(x)


def description(code) -> str | None:
    return weather.describe(int(code)) if is_number(code) else None


def units(got, trained: dict) -> dict:
    """The trained unit keys, with Open-Meteo's unit strings where it gave them (the same by default)."""
    got = got if isinstance(got, dict) else {}
    return {k: got.get(k, unit) for k, unit in trained.items()}


def shape_current(latitude, longitude, answer: dict) -> dict | None:
    """The current-weather result from Open-Meteo's `current=` answer; None when the block is incomplete."""
    now = answer.get("current")
    if not isinstance(now, dict) or any(k not in now for k in ("time", *CURRENT_FIELDS)):
        return None
    current = {"time": now["time"]}
    for key in CURRENT_FIELDS:
        current[key] = value(key, now[key])
        if key == "weather_code":
            current["weather_description"] = description(now[key])
    # Coordinates as asked: the model checks its answer against the place it looked up.
    return {"latitude": latitude, "longitude": longitude,
            "current_units": units(answer.get("current_units"), weather.CURRENT_UNITS), "current": current}


def shape_forecast(latitude, longitude, answer: dict, days: int) -> dict | None:
    """The forecast result from Open-Meteo's `daily=` answer, `days` rows from today; None when incomplete."""
    daily = answer.get("daily")
    if not isinstance(daily, dict) or any(not isinstance(daily.get(k), list) for k in ("time", *DAILY_FIELDS)):
        return None
    n = min(days, len(daily["time"]))
    out = {"time": daily["time"][:n]}
    for key in DAILY_FIELDS:
        out[key] = [value(key, v) for v in daily[key][:n]]
        if key == "weather_code":
            out["weather_description"] = [description(v) for v in daily[key][:n]]
    return {"latitude": latitude, "longitude": longitude,
            "daily_units": units(answer.get("daily_units"), weather.DAILY_UNITS), "daily": out}


def quarter_hour(moment: dt.datetime) -> str:
    """A local time as Open-Meteo's `current.time`: ISO minutes, floored to the 15-minute step it reports."""
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")


def geocode_answer(places) -> dict:
    """An Open-Meteo geocoding answer for gazetteer.Place rows (largest first), for the generator to shape."""
    return {"results": [{"name": p.name, "latitude": p.latitude, "longitude": p.longitude, "country": p.country,
                         "country_code": p.country_code, "population": p.population, "timezone": p.timezone,
                         **({"admin1": p.admin1} if p.admin1 else {})} for p in places]}


def measure_geocodes(conversations) -> dict:
    """Geocode tool messages in a data set: how many, how many name a place with an accent (as Open-Meteo
    spells São Paulo), how many name a region (admin1) and with an accent ("Île-de-France"), and how many
    list several places of one name."""
    import json

    total = accented = several = regions = accented_regions = 0
    for conv in conversations:
        for m in conv["messages"]:
            if m.get("role") == "tool" and (m.get("content") or "").startswith('{"results"'):
                results = json.loads(m["content"])["results"]
                total += 1
                several += len(results) > 1
                accented += any(not r["name"].isascii() for r in results)
                regions += any(r.get("admin1") for r in results)
                accented_regions += any(not r.get("admin1", "").isascii() for r in results)
    return {"results": total, "accented": accented, "several_places": several, "with_admin1": regions,
            "accented_admin1": accented_regions}
