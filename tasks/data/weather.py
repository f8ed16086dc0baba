"""Plausible synthetic weather, shaped like Open-Meteo's answers, for the generated data.

    python -m tasks.data.weather --city Oslo --date 2025-01-15 --days 3   # print one current and one forecast answer

The tool results the data shows must look like what the real tools return and
must be believable for the place and the date, or the model learns nonsense
(snow in Singapore, 35 °C in a Norwegian January). Each day is drawn from the
place's real monthly normals (tasks/data/climate.py: mean daily maximum and
minimum, share of wet days), with a temperature anomaly that persists from day
to day and rainy spells rather than coin flips. Precipitation type follows
temperature: snow only near or below freezing, thunder only when warm.

The results follow Open-Meteo's field names (`current`, `daily`, `*_units`,
`weather_code` in WMO codes); like most tool wrappers, the project's tools add a
`weather_description` beside each WMO code so the model can read it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random

from tasks import ui
from tasks.data import climate
from tasks.data.gazetteer import City, geocode

# WMO weather interpretation codes as Open-Meteo documents them.
# Descriptions are noun phrases ("partly cloudy skies") so that answers can say "with {description}".
WMO = {
    0: "clear skies", 1: "mostly clear skies", 2: "partly cloudy skies", 3: "overcast skies", 45: "fog",
    51: "light drizzle", 53: "drizzle", 61: "light rain", 63: "rain", 65: "heavy rain",
    71: "light snow", 73: "snow", 75: "heavy snow", 80: "rain showers", 81: "heavy rain showers",
    85: "snow showers", 95: "thunderstorms",
}
# The other codes Open-Meteo documents, which the generator never draws: the live tools
# (tasks/serve/tools.py) describe them in the same style through describe().
WMO_LIVE_ONLY = {
    48: "freezing fog", 55: "heavy drizzle", 56: "light freezing drizzle", 57: "freezing drizzle",
    66: "light freezing rain", 67: "freezing rain", 77: "snow grains", 82: "violent rain showers",
    86: "heavy snow showers", 96: "thunderstorms with hail", 99: "thunderstorms with heavy hail",
}
DRY_CODES = (0, 1, 2, 3, 45)
SNOW_CODES = (71, 73, 75, 85)

CURRENT_UNITS = {
    "temperature_2m": "°C", "apparent_temperature": "°C", "relative_humidity_2m": "%",
    "precipitation": "mm", "wind_speed_10m": "km/h",
}
DAILY_UNITS = {
    "temperature_2m_max": "°C", "temperature_2m_min": "°C", "precipitation_sum": "mm",
    "precipitation_probability_max": "%",
}
MAX_FORECAST_DAYS = 14


def describe(code: int) -> str:
    """`weather_description` for a WMO code: one table for the generated data and the live tools."""
    return WMO.get(code) or WMO_LIVE_ONLY.get(code) or f"weather code {code}"


def _weather_code(rng: random.Random, wet: bool, temp: float, wet_chance: float) -> int:
    if not wet:
        # Dry days are clearer where rain is rare (Cairo) and greyer where it is common (Bergen).
        return rng.choices(DRY_CODES, weights=(20 * (1 - wet_chance) + 15, 25, 25, 10 + 15 * wet_chance, 5))[0]
    if temp <= 0.5:
        return rng.choice(SNOW_CODES)
    if temp <= 2.0:
        return rng.choice((61, 51))  # near freezing: cold rain or drizzle, not yet snow
    if temp >= 18.0 and rng.random() < 0.25:
        return 95
    return rng.choice((51, 53, 61, 63, 65, 80, 81))


def _precipitation(rng: random.Random, code: int) -> float:
    if code in DRY_CODES:
        return 0.0
    scale = {51: 0.3, 53: 0.8, 61: 1.5, 63: 4.0, 65: 10.0, 71: 1.0, 73: 3.0, 75: 8.0,
             80: 3.0, 81: 9.0, 85: 2.0, 95: 12.0}[code]
    return round(max(0.1, rng.uniform(0.3, 1.7) * scale), 1)


def _days(city: City, start: dt.date, world: str) -> list[dict]:
    """The 14 days from `start` at the city in one synthetic world.

    Seeded by (world, city, start) and always 14 days long, so two calls in one
    conversation agree: a 3-day and a 7-day forecast share their first 3 days, and
    the current conditions sit inside today's forecast range, as a real API's would.
    """
    rng = random.Random(f"{world}:{city.name}:{city.latitude}:{start.isoformat()}")
    normals = climate.for_city(city)
    sd = normals.anomaly_sd()
    anomaly = rng.gauss(0, sd)  # weather persists: a warm spell stays warm for a few days
    wet = rng.random() < climate.on(normals, start).wet_chance
    rows = []
    for i in range(MAX_FORECAST_DAYS):
        day = start + dt.timedelta(days=i)
        normal = climate.on(normals, day)
        if i:
            anomaly = climate.next_anomaly(rng, anomaly, sd)
            wet = climate.next_wet(rng, wet, normal.wet_chance)
        p = normal.wet_chance
        # Clouds and rain narrow the day's range and sun widens it; the factors average to 1 over the
        # month, so the drawn highs and lows keep the normal means.
        factor = (1 - 0.25 * (1 - p)) if wet else (1 + 0.25 * p)
        half = max(0.5, (normal.tmax - normal.tmin) / 2 * factor * rng.uniform(0.85, 1.15))
        mean = (normal.tmax + normal.tmin) / 2 + anomaly
        code = _weather_code(rng, wet, mean, p)
        rows.append({
            "time": day.isoformat(), "weather_code": code, "weather_description": describe(code),
            "temperature_2m_max": round(mean + half, 1), "temperature_2m_min": round(mean - half, 1),
            "precipitation_sum": _precipitation(rng, code),
            "precipitation_probability_max": int(rng.uniform(55, 98)) if wet else int(rng.uniform(0, 25)),
        })
    return rows


def current(city: City, when: dt.datetime, world: str) -> dict:
    """What get_current_weather returns for the city at `when` (local time)."""
    today = _days(city, when.date(), world)[0]
    rng = random.Random(f"{world}:{city.name}:{city.latitude}:{when.isoformat()}:now")
    lo, hi = today["temperature_2m_min"], today["temperature_2m_max"]
    warmth = (1 + math.cos(2 * math.pi * (when.hour - 15) / 24)) / 2  # 1 at 3 pm, 0 at 3 am
    temp = round(min(hi, max(lo, lo + (hi - lo) * warmth + rng.gauss(0, 0.8))), 1)
    code = today["weather_code"]
    wind = round(min(70.0, rng.gammavariate(2.2, 6.0)), 1)
    humidity = int(min(100, max(12, rng.gauss(80 if code not in DRY_CODES else 58, 12))))
    # Wind chill below 10 °C, humidity makes heat feel hotter above 26 °C.
    feels = temp - 0.12 * wind if temp < 10 else temp + (humidity - 40) * 0.08 if temp > 26 else temp - 0.04 * wind
    precipitation = 0.0 if code in DRY_CODES else round(max(0.1, today["precipitation_sum"] * rng.uniform(0.03, 0.2)), 1)
    return {
        "latitude": city.latitude,
        "longitude": city.longitude,
        "current_units": CURRENT_UNITS,
        "current": {
            "time": when.replace(minute=when.minute - when.minute % 15).strftime("%Y-%m-%dT%H:%M"),  # Open-Meteo's 15-minute step
            "temperature_2m": temp,
            "apparent_temperature": round(feels, 1),
            "relative_humidity_2m": humidity,
            "precipitation": precipitation,
            "weather_code": code,
            "weather_description": describe(code),
            "wind_speed_10m": wind,
        },
    }


def forecast(city: City, start: dt.date, days: int, world: str) -> dict:
    """What get_forecast returns: `days` daily rows starting today."""
    if not 1 <= days <= MAX_FORECAST_DAYS:
        raise ValueError(f"days={days}: Open-Meteo forecasts 1 to {MAX_FORECAST_DAYS} days")
    rows = _days(city, start, world)[:days]
    keys = ("time", "weather_code", "weather_description", "temperature_2m_max", "temperature_2m_min",
            "precipitation_sum", "precipitation_probability_max")
    return {
        "latitude": city.latitude,
        "longitude": city.longitude,
        "daily_units": DAILY_UNITS,
        "daily": {k: [row[k] for row in rows] for k in keys},
    }


def geocode_result(found: list[City]) -> dict:
    """What geocode_location returns for the places found (gazetteer.geocode_all), shaped by the live tool's
    own function (openmeteo.shape_geocode): the same fields, rounding and admin1 rule. Open-Meteo omits
    `results` when nothing matches; the project's tool returns an empty list so that the answer is explicit."""
    from tasks.data import openmeteo

    rows = [{"name": c.name, "latitude": c.latitude, "longitude": c.longitude, "country": c.country,
             "country_code": c.country_code, "admin1": c.admin1, "population": c.population,
             **({"elevation": c.elevation} if c.elevation is not None else {})} for c in found]
    return openmeteo.shape_geocode(rows, found[0].name if found else "")


def run(city_name: str, date: str, days: int, seed: int) -> None:
    import json

    city = geocode(city_name)
    if city is None:
        raise ui.Fail(f"--city {city_name}: not in the gazetteer (python -m tasks.data.gazetteer lists the cities)")
    try:
        day = dt.date.fromisoformat(date)
    except ValueError as e:
        raise ui.Fail(f"--date {date}: not an ISO date (use YYYY-MM-DD)") from e
    world = str(seed)
    print(json.dumps(current(city, dt.datetime.combine(day, dt.time(14)), world), ensure_ascii=False))
    try:
        print(json.dumps(forecast(city, day, days, world), ensure_ascii=False))
    except ValueError as e:
        raise ui.Fail(f"--days {days}: {e}") from e


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", default="Oslo")
    parser.add_argument("--date", default="2025-01-15")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.city, args.date, args.days, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
