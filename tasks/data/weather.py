"""Plausible synthetic weather, shaped like Open-Meteo's answers, for the generated data.

    python -m tasks.data.weather --city Oslo --date 2025-01-15 --days 3   # print one current and one forecast answer

The tool results the data shows must look like what the real tools return and
must be believable for the place and the date, or the model learns nonsense
(snow in Singapore, 35 °C in a Norwegian January). The model here is simple
climatology, not a simulation: an annual mean that falls with latitude and
altitude, a seasonal swing that grows with latitude and is phased by hemisphere
(milder in the oceanic south), a day/night cycle, noise, and a wet-day chance by
climate band (wet tropics, dry subtropics, mixed mid-latitudes). Precipitation
type follows temperature: snow only near or below freezing, thunder only when warm.

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
from tasks.data.gazetteer import CITY_BY_NAME, City, geocode

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


# Climate normals (annual mean of daily means in °C, and half the spread between the warmest and the
# coldest month) for the high or continental cities where a lapse rate from sea level goes badly wrong:
# highland plateaus are far warmer than the free air at their height (Mexico City is not 9 °C). Rounded
# from the 1991-2020 (or nearest available) normals of the national weather services as tabulated in
# each city's public climate table.
NORMALS: dict[str, tuple[float, float]] = {
    "Mexico City": (16.7, 2.6), "Guadalajara": (20.9, 3.8), "Oaxaca": (20.5, 2.5), "Guatemala City": (19.3, 1.8),
    "San Jose": (20.5, 1.0), "Bogota": (14.2, 0.5), "Medellin": (22.5, 0.5), "Quito": (14.0, 0.4),
    "Cusco": (12.0, 1.6), "La Paz": (8.5, 2.0), "Caracas": (22.0, 1.5), "Brasilia": (21.3, 1.7),
    "Curitiba": (17.5, 3.5), "Sao Paulo": (19.5, 3.5), "Addis Ababa": (16.3, 1.5), "Asmara": (16.9, 2.5),
    "Nairobi": (19.0, 2.0), "Kampala": (22.5, 0.7), "Kigali": (21.0, 0.7), "Lusaka": (20.0, 4.0),
    "Harare": (18.5, 4.0), "Windhoek": (19.5, 5.5), "Gaborone": (21.0, 6.5), "Johannesburg": (16.0, 5.0),
    "Pretoria": (18.5, 5.5), "Antananarivo": (18.5, 3.5), "Kunming": (15.5, 5.0), "Lhasa": (8.5, 8.2),
    "Ulaanbaatar": (-0.4, 20.0), "Bengaluru": (24.0, 2.5), "Shimla": (13.5, 7.5), "Kabul": (12.0, 13.6),
    "Kathmandu": (18.8, 6.9), "Thimphu": (12.5, 7.0), "Tehran": (18.5, 13.2), "Isfahan": (16.5, 13.0),
    "Sana'a": (18.5, 4.0), "Denver": (10.4, 12.0), "Salt Lake City": (11.6, 13.8), "Albuquerque": (14.2, 12.0),
    "Calgary": (4.4, 11.8), "Edmonton": (4.2, 14.0), "Whitehorse": (-0.1, 15.0), "Ankara": (12.0, 11.6),
    "Yerevan": (12.5, 14.8), "Madrid": (14.9, 10.0), "Riyadh": (26.5, 10.5), "Amman": (18.0, 8.5),
    "Jerusalem": (17.5, 7.5), "Damascus": (17.0, 10.4), "Almaty": (10.0, 14.0), "Bishkek": (11.0, 14.0),
    "Dushanbe": (15.0, 13.0), "Urumqi": (7.3, 18.0), "Samarkand": (14.0, 13.0), "Mendoza": (16.5, 8.5),
    "Las Vegas": (20.5, 12.5), "Phoenix": (24.0, 11.0), "Sofia": (11.0, 11.0), "Sarajevo": (10.5, 10.5),
}


def _mean_temperature(city: City, day: dt.date) -> float:
    """Climatological daily mean (°C) for the place and the day of the year: the city's normals where
    the table has them, else a mean that falls with latitude and altitude."""
    lat = abs(city.latitude)
    own = CITY_BY_NAME.get(city.name)
    normal = NORMALS.get(city.name) if own is not None and own.latitude == city.latitude else None
    if normal is not None:
        annual, swing = normal
    else:
        annual = 27.0 - 0.42 * max(0.0, lat - 10.0) - 6.5 * max(0, city.elevation) / 1000.0
        swing = 1.0 + 0.22 * min(lat, 55.0)
        if city.latitude < 0:
            swing *= 0.7  # the southern hemisphere is mostly ocean: milder seasons
    peak = 201 if city.latitude >= 0 else 20  # warmest day of the year: late July north, late January south
    doy = day.timetuple().tm_yday
    return annual + swing * math.cos(2 * math.pi * (doy - peak) / 365.25)


def _wet_chance(city: City) -> float:
    lat = abs(city.latitude)
    if lat < 12:
        return 0.5  # wet tropics
    if 18 <= lat <= 32:
        return 0.15  # subtropical dry belt
    return 0.35


def _weather_code(rng: random.Random, wet: bool, temp: float) -> int:
    if not wet:
        return rng.choices(DRY_CODES, weights=(30, 25, 25, 15, 5))[0]
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
    anomaly = rng.gauss(0, 2.5)  # weather persists: a warm spell stays warm for a few days
    wet = rng.random() < _wet_chance(city)
    rows = []
    for i in range(MAX_FORECAST_DAYS):
        day = start + dt.timedelta(days=i)
        anomaly = 0.7 * anomaly + rng.gauss(0, 1.8)
        wet = rng.random() < (0.65 if wet else _wet_chance(city) * 0.7)
        mean = _mean_temperature(city, day) + anomaly
        spread = rng.uniform(2.5, 6.0) if not wet else rng.uniform(1.5, 4.0)
        code = _weather_code(rng, wet, mean)
        rows.append({
            "time": day.isoformat(), "weather_code": code, "weather_description": describe(code),
            "temperature_2m_max": round(mean + spread, 1), "temperature_2m_min": round(mean - spread, 1),
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
    """What geocode_location returns for the places found (gazetteer.geocode_all); Open-Meteo omits
    `results` when nothing matches, the project's tool returns an empty list so that the answer is
    explicit. `admin1` (state or region) comes with a place whose name others share."""
    rows = []
    for city in found:
        row = {"name": city.name, "latitude": city.latitude, "longitude": city.longitude,
               "elevation": float(city.elevation), "country": city.country, "country_code": city.country_code}
        if city.admin1:
            row["admin1"] = city.admin1
        rows.append(row)
    return {"results": rows}


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
