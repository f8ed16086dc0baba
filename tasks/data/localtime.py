"""Local clock and daylight for a place: its own time zone (zoneinfo, tzdata pinned) and the sun's height.

The generator draws one moment in UTC and reads it on each place's own clock, so Ottawa and Kigali at
the same instant are seven hours apart, and a reading is day or night by the place's real sunrise and
sunset (NOAA's simplified solar position; within a few minutes, plenty for an `is_day` flag).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from zoneinfo import ZoneInfo

from tasks.data import gazetteer


@functools.cache
def timezone_of(name: str, country_code: str) -> str:
    """The IANA zone of the largest table place with this name (as Open-Meteo spells it) in this country."""
    for p in gazetteer.world_places():
        if p.name == name and p.country_code == country_code:
            return p.timezone
    raise KeyError(f"{name}, {country_code}: not in data/world/places.tsv.gz")


@functools.cache
def city_zone(city) -> str:
    """The time zone of a built-in gazetteer city (by its table twin, else the closest table place of its country)."""
    best, zone = None, None
    for p in gazetteer.world_places():
        if p.country_code != city.country_code:
            continue
        d = (p.latitude - city.latitude) ** 2 + ((p.longitude - city.longitude) * math.cos(math.radians(city.latitude))) ** 2
        if best is None or d < best:
            best, zone = d, p.timezone
    if zone is None:
        raise KeyError(f"{city.name}, {city.country_code}: no place of that country in data/world/places.tsv.gz")
    return zone


def local(moment_utc: dt.datetime, zone: str) -> dt.datetime:
    """The UTC moment on the place's wall clock (naive, as Open-Meteo's `timezone=auto` times are)."""
    return moment_utc.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def sun_elevation(moment_utc: dt.datetime, latitude: float, longitude: float) -> float:
    """The sun's height above the horizon in degrees (NOAA's approximate equations)."""
    day = moment_utc.timetuple().tm_yday
    hour = moment_utc.hour + moment_utc.minute / 60
    g = 2 * math.pi / 365 * (day - 1 + (hour - 12) / 24)
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g) - 0.006758 * math.cos(2 * g)
            + 0.000907 * math.sin(2 * g) - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                       - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))
    solar_minutes = hour * 60 + eqtime + 4 * longitude
    angle = math.radians(solar_minutes / 4 - 180)
    lat = math.radians(latitude)
    cos_zenith = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(angle)
    return 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))


def is_day(moment_utc: dt.datetime, latitude: float, longitude: float) -> bool:
    """Between sunrise and sunset (the sun's upper edge above the horizon, refraction included)."""
    return sun_elevation(moment_utc, latitude, longitude) > -0.833
