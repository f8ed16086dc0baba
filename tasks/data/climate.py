"""Real monthly climate normals, and the day-by-day weather drawn from them.

    python -m tasks.data.climate --city Delhi            # the normals the generator uses for one place
    python -m tasks.data.climate --lat 12.37 --lon -1.52 # any point: interpolated from the nearest cities

The table `data/world/normals.tsv` holds, for each of the gazetteer's 346 cities, the mean daily maximum
and minimum temperature and the number of days with 1 mm of precipitation or more, per month. The values
are rounded from the 1991-2020 normals of the national weather services (see data/world/README.md).

A place the table does not hold (a homonym such as Portland, Maine, or any point) gets the normals of its
nearest table cities, weighted by the inverse square of the distance, each moved to the place's altitude
with the standard lapse rate of 6.5 °C per km where both altitudes are known. That is what a forecaster
would do without a station, and it is wrong where a coast or a mountain range lies between the place and
its neighbours; the table cities themselves are the ones the generator draws.

Day to day, weather persists: the temperature anomaly is an AR(1) process whose spread grows with the
size of the place's seasons (a Singapore day differs from the normal by about 1 °C, a Moscow winter day
by 4), and wet days follow a two-state Markov chain whose long-run share is the normal share of wet days.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import functools
import math
from pathlib import Path
from typing import NamedTuple

from tasks import ui

TABLE = Path(__file__).resolve().parents[2] / "data" / "world" / "normals.tsv"
LAPSE_C_PER_M = 0.0065  # the standard atmosphere's lapse rate
NEIGHBOURS = 4
SAME_PLACE_KM = 15.0  # a point this close to a table city takes that city's normals as they are
WET_PERSISTENCE = 0.45  # lag-1 correlation of wet days: rainy spells, not coin flips
ANOMALY_PERSISTENCE = 0.75  # lag-1 correlation of the daily temperature anomaly


class Normals(NamedTuple):
    tmax: tuple[float, ...]  # 12 monthly means of the daily maximum, °C
    tmin: tuple[float, ...]  # 12 monthly means of the daily minimum, °C
    wet_days: tuple[float, ...]  # 12 monthly counts of days with >= 1 mm

    def annual_range(self) -> float:
        """Warmest minus coldest monthly mean, °C: the size of the place's seasons."""
        means = [(a + b) / 2 for a, b in zip(self.tmax, self.tmin, strict=True)]
        return max(means) - min(means)

    def anomaly_sd(self) -> float:
        """Spread of a day's mean temperature around the normal, °C: small in the tropics, large inland."""
        return min(4.5, max(0.8, 0.7 + 0.12 * self.annual_range()))


class Day(NamedTuple):
    tmax: float
    tmin: float
    wet_chance: float


def _parse(path: Path) -> dict[tuple[str, str], Normals]:
    table: dict[tuple[str, str], Normals] = {}
    header = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if header is None:
            header = cells
            if header != ["name", "country_code", "tmax", "tmin", "wet_days"]:
                raise ui.Fail(f"{path}:{number}: header {header} is not name, country_code, tmax, tmin, wet_days")
            continue
        try:
            name, code, *series = cells
            tmax, tmin, wet = (tuple(float(v) for v in s.split()) for s in series)
        except ValueError as e:
            raise ui.Fail(f"{path}:{number}: expected a name, a country code and three lists of 12 numbers") from e
        if not (len(tmax) == len(tmin) == len(wet) == 12):
            raise ui.Fail(f"{path}:{number}: {name} needs 12 values per column, has {len(tmax)}/{len(tmin)}/{len(wet)}")
        for month, (hi, lo, w) in enumerate(zip(tmax, tmin, wet, strict=True)):
            if hi <= lo or not 0 <= w <= calendar.monthrange(2001, month + 1)[1]:
                raise ui.Fail(f"{path}:{number}: {name} month {month + 1}: tmax {hi} tmin {lo} wet days {w} is impossible")
        table[(name, code)] = Normals(tmax, tmin, wet)
    return table


@functools.cache
def table() -> dict[tuple[str, str], Normals]:
    """The normals table, keyed by (gazetteer name, ISO country code)."""
    return _parse(TABLE)


@functools.cache
def _stations():
    from tasks.data.gazetteer import CITY_BY_NAME

    rows = []
    for city in CITY_BY_NAME.values():
        normals = table().get((city.name, city.country_code))
        if normals is not None:
            rows.append((city, normals))
    return tuple(rows)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def at(latitude: float, longitude: float, elevation: float | None = None) -> Normals:
    """Normals for any point: its table city's when it is one, else interpolated from the nearest ones."""
    near = sorted(((distance_km(latitude, longitude, c.latitude, c.longitude), c, n) for c, n in _stations()),
                  key=lambda row: row[0])[:NEIGHBOURS]
    if near[0][0] <= SAME_PLACE_KM and (elevation is None or abs(elevation - near[0][1].elevation) < 150):
        return near[0][2]
    weights = [1.0 / max(d, 1.0) ** 2 for d, _, _ in near]
    total = sum(weights)
    tmax, tmin, wet = [0.0] * 12, [0.0] * 12, [0.0] * 12
    for w, (_, city, normals) in zip(weights, near, strict=True):
        shift = 0.0 if elevation is None else -LAPSE_C_PER_M * (elevation - city.elevation)
        for m in range(12):
            tmax[m] += w * (normals.tmax[m] + shift) / total
            tmin[m] += w * (normals.tmin[m] + shift) / total
            wet[m] += w * normals.wet_days[m] / total
    return Normals(tuple(tmax), tuple(tmin), tuple(wet))


def for_city(city) -> Normals:
    """Normals for a gazetteer City (or any object with name, country_code, latitude, longitude, elevation)."""
    own = table().get((city.name, city.country_code))
    if own is not None:
        from tasks.data.gazetteer import CITY_BY_NAME

        listed = CITY_BY_NAME.get(city.name)
        if listed is not None and abs(listed.latitude - city.latitude) < 0.5 and abs(listed.longitude - city.longitude) < 0.5:
            return own
    return at(city.latitude, city.longitude, city.elevation)


def on(normals: Normals, day: dt.date) -> Day:
    """The normal for one calendar day: monthly values held at mid-month, linear in between."""
    month = day.month - 1
    length = calendar.monthrange(day.year, day.month)[1]
    mid = (length + 1) / 2
    offset = (day.day - mid) / length  # -0.5 .. +0.5 of a month from this month's middle
    other = (month + (1 if offset >= 0 else -1)) % 12
    frac = abs(offset)

    def blend(series):
        return series[month] * (1 - frac) + series[other] * frac

    wet_share = blend([w / calendar.monthrange(2001, m + 1)[1] for m, w in enumerate(normals.wet_days)])
    return Day(blend(normals.tmax), blend(normals.tmin), min(0.95, wet_share))


def next_wet(rng, wet: bool, chance: float) -> bool:
    """Tomorrow wet or dry: a Markov chain whose long-run share of wet days is `chance`."""
    if wet:
        return rng.random() < chance + WET_PERSISTENCE * (1 - chance)
    return rng.random() < chance * (1 - WET_PERSISTENCE)


def next_anomaly(rng, anomaly: float, sd: float) -> float:
    """Tomorrow's temperature anomaly: AR(1) with stationary standard deviation `sd`."""
    phi = ANOMALY_PERSISTENCE
    return phi * anomaly + rng.gauss(0, sd * math.sqrt(1 - phi * phi))


def measure(conversations) -> dict:
    """How the forecasts in a data set hold against the normals, read from the tool messages alone.

    For each place and month with at least 5 forecast days, the mean drawn maximum and minimum are set
    against the normals at that point (`at`): the share of place-months off by 4 °C or more, and the mean
    error. In the tropics (|latitude| < 15) it also counts forecast steps whose maximum jumps by 4 °C or
    more from one day to the next, which real tropical weather rarely does."""
    import json
    from collections import defaultdict

    days = defaultdict(lambda: ([], []))
    tropical_steps = tropical_jumps = 0
    for conv in conversations:
        for message in conv["messages"]:
            if message.get("role") != "tool" or '"daily"' not in (message.get("content") or ""):
                continue
            result = json.loads(message["content"])
            daily, lat, lon = result["daily"], result["latitude"], result["longitude"]
            highs = daily["temperature_2m_max"]
            for time, hi, lo in zip(daily["time"], highs, daily["temperature_2m_min"], strict=True):
                key = (round(lat, 2), round(lon, 2), int(time[5:7]))
                days[key][0].append(hi)
                days[key][1].append(lo)
            if abs(lat) < 15:
                tropical_steps += max(0, len(highs) - 1)
                tropical_jumps += sum(1 for a, b in zip(highs, highs[1:], strict=False) if abs(a - b) >= 4)
    checked = off = 0
    errors = []
    for (lat, lon, month), (highs, lows) in days.items():
        if len(highs) < 5:
            continue
        normals = at(lat, lon)
        err = max(abs(sum(highs) / len(highs) - normals.tmax[month - 1]), abs(sum(lows) / len(lows) - normals.tmin[month - 1]))
        checked += 1
        off += err >= 4
        errors.append(err)
    return {
        "place_months": checked,
        "off_by_4C_or_more": round(off / checked, 4) if checked else None,
        "mean_error_C": round(sum(errors) / len(errors), 2) if errors else None,
        "tropical_forecast_steps": tropical_steps,
        "tropical_jumps_4C_or_more": round(tropical_jumps / tropical_steps, 4) if tropical_steps else None,
    }


def run(city_name: str | None, lat: float | None, lon: float | None, elevation: float | None) -> None:
    from tasks.data import gazetteer

    if city_name is not None:
        city = gazetteer.geocode(city_name)
        if city is None:
            raise ui.Fail(f"--city {city_name}: not in the gazetteer (python -m tasks.data.gazetteer lists them; "
                          "for any other place give --lat and --lon)")
        normals, label = for_city(city), f"{city.name}, {city.country}"
    elif lat is not None and lon is not None:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ui.Fail(f"--lat {lat} --lon {lon}: latitude must be -90..90 and longitude -180..180")
        normals, label = at(lat, lon, elevation), f"{lat:.2f}, {lon:.2f}"
    else:
        raise ui.Fail("give --city NAME, or --lat and --lon (and --elevation in metres if known)")
    print(f"{label}: mean daily max / min °C and wet days, January to December")
    print("tmax " + " ".join(f"{v:5.1f}" for v in normals.tmax))
    print("tmin " + " ".join(f"{v:5.1f}" for v in normals.tmin))
    print("wet  " + " ".join(f"{v:5.1f}" for v in normals.wet_days))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city")
    parser.add_argument("--lat", type=float)
    parser.add_argument("--lon", type=float)
    parser.add_argument("--elevation", type=float)
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.city, args.lat, args.lon, args.elevation)


if __name__ == "__main__":
    raise SystemExit(main())
