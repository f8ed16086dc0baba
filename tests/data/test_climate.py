"""The generated weather follows real monthly normals (tasks/data/climate.py, data/world/normals.tsv)."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest

from tasks import ui
from tasks.data import climate, gazetteer, weather


def _month_of_forecasts(city, year, month, worlds=12):
    """Mean drawn max and min over every day of one month, in several synthetic worlds."""
    highs, lows = [], []
    for w in range(worlds):
        row = weather.forecast(city, dt.date(year, month, 1), 14, f"w{w}")["daily"]
        row2 = weather.forecast(city, dt.date(year, month, 15), 14, f"w{w}")["daily"]
        highs += row["temperature_2m_max"] + row2["temperature_2m_max"]
        lows += row["temperature_2m_min"] + row2["temperature_2m_min"]
    return statistics.fmean(highs), statistics.fmean(lows)


def test_the_table_holds_every_gazetteer_city_with_twelve_possible_months():
    table = climate.table()
    assert {(c.name, c.country_code) for c in gazetteer.CITIES} <= set(table)
    for (name, _), n in table.items():
        assert all(hi > lo for hi, lo in zip(n.tmax, n.tmin, strict=True)), name
        assert all(0 <= w <= 31 for w in n.wet_days), name


@pytest.mark.parametrize("name, month, tmax, tmin, tol", [
    # the cases the old latitude model got wrong by 8-30 °C
    ("Delhi", 5, 40, 26, 2.0), ("Kuwait City", 7, 46, 30, 2.0), ("London", 1, 8, 3, 2.0),
    ("Yakutsk", 1, -35, -41, 3.0), ("Singapore", 3, 32, 24, 1.5), ("Mexico City", 5, 27, 12, 2.0),
    ("Cape Town", 7, 18, 8, 2.0), ("Lima", 8, 19, 15, 1.5),
])
def test_drawn_weather_matches_the_normals_of_real_city_months(name, month, tmax, tmin, tol):
    hi, lo = _month_of_forecasts(gazetteer.CITY_BY_NAME[name], 2025, month)
    assert abs(hi - tmax) <= tol and abs(lo - tmin) <= tol, (name, month, round(hi, 1), round(lo, 1))


def test_tropical_days_do_not_swing_like_temperate_ones():
    def jumps(name):
        city = gazetteer.CITY_BY_NAME[name]
        steps = []
        for w in range(40):
            highs = weather.forecast(city, dt.date(2025, 3, 3), 14, f"s{w}")["daily"]["temperature_2m_max"]
            steps += [abs(a - b) for a, b in zip(highs, highs[1:], strict=False)]
        return statistics.fmean(steps), max(steps)
    singapore, moscow = jumps("Singapore"), jumps("Moscow")
    assert singapore[1] < 4 and min(weather.forecast(gazetteer.CITY_BY_NAME["Singapore"], dt.date(2025, 3, 3), 14, "x")
                                    ["daily"]["temperature_2m_max"]) > 27
    assert moscow[0] > 2 * singapore[0]


def test_dry_seasons_are_dry_and_monsoons_wet():
    def wet_share(name, month):
        city, wet = gazetteer.CITY_BY_NAME[name], 0
        for w in range(30):
            codes = weather.forecast(city, dt.date(2025, month, 1), 14, f"r{w}")["daily"]["weather_code"]
            wet += sum(1 for c in codes if c not in weather.DRY_CODES)
        return wet / (30 * 14)
    assert wet_share("Mumbai", 1) < 0.05 and wet_share("Mumbai", 7) > 0.5
    assert wet_share("Cairo", 6) < 0.02 and wet_share("Bergen", 11) > 0.45


def test_a_place_the_table_lacks_is_interpolated_and_moved_to_its_altitude():
    ouaga = climate.at(12.37, -1.52)  # Ouagadougou: its normals are Jan 33/16, Apr 39/26, Aug 31/22 °C
    assert abs(ouaga.tmax[3] - 39) < 2.5 and abs(ouaga.tmin[0] - 16) < 3 and abs(ouaga.tmax[7] - 31) < 2
    low, high = climate.at(46.5, 10.0, elevation=300), climate.at(46.5, 10.0, elevation=2300)
    assert all(abs((a - b) - 13.0) < 0.01 for a, b in zip(low.tmax, high.tmax, strict=True))  # 2 km at 6.5 °C per km
    maine = next(c for c in gazetteer.geocode_all("Portland") if c.admin1 == "Maine")
    assert climate.for_city(maine).tmax[0] < 3 < climate.for_city(gazetteer.CITY_BY_NAME["Portland"]).tmax[0]


def test_measure_reads_the_forecasts_of_conversations():
    city = gazetteer.CITY_BY_NAME["Oslo"]
    def conv(result):
        import json
        return {"messages": [{"role": "tool", "content": json.dumps(result)}]}
    good = [conv(weather.forecast(city, dt.date(2025, 1, d), 14, f"m{d}")) for d in range(1, 15)]
    figures = climate.measure(good)
    assert figures["place_months"] == 1 and figures["off_by_4C_or_more"] == 0.0
    hot = [conv({**r, "daily": {**r["daily"], "temperature_2m_max": [t + 10 for t in r["daily"]["temperature_2m_max"]]}})
           for r in (weather.forecast(city, dt.date(2025, 1, d), 14, f"m{d}") for d in range(1, 15))]
    assert climate.measure(hot)["off_by_4C_or_more"] == 1.0


def test_a_bad_normals_row_names_its_line(tmp_path):
    path = tmp_path / "normals.tsv"
    path.write_text("name\tcountry_code\ttmax\ttmin\twet_days\n"
                    "Oslo\tNO\t" + " ".join(["1"] * 12) + "\t" + " ".join(["2"] * 12) + "\t" + " ".join(["3"] * 12) + "\n")
    with pytest.raises(ui.Fail, match=r"normals.tsv:2: Oslo month 1"):
        climate._parse(path)
    path.write_text("name\tcountry_code\ttmax\ttmin\twet_days\nOslo\tNO\t1 2\t0 1\t3 3\n")
    with pytest.raises(ui.Fail, match=r"normals.tsv:2: Oslo needs 12 values"):
        climate._parse(path)


def test_the_command_line_prints_normals_and_refuses_bad_input(capsys):
    assert climate.main(["--city", "Delhi"]) == 0
    assert "tmax" in capsys.readouterr().out
    assert climate.main(["--city", "Xqzzyville"]) == 1
    assert climate.main(["--lat", "95", "--lon", "0"]) == 1


def test_days_beyond_six_are_named_by_date_or_as_next_weekday():
    import random
    import re
    from types import SimpleNamespace

    from tasks.data.convo import common

    c = SimpleNamespace(today=dt.date(2025, 8, 6), rng=random.Random(0))
    start = dt.date(2025, 8, 6)
    names = [common.day_name(c, start, i) for i in range(14) for _ in range(5)]
    near, far = names[:35], names[35:]
    assert all(n in ("today", "tomorrow") or re.fullmatch(r"on [A-Z][a-z]+day", n) for n in near), near
    assert all(re.fullmatch(r"next [A-Z][a-z]+day|on [A-Z][a-z]+day \d{1,2} [A-Z][a-z]+", n) for n in far), far
    assert "on Wednesday 13 August" in far and "next Wednesday" in far
    undated = SimpleNamespace(today=None, rng=random.Random(0))
    assert common.day_name(undated, start, 9) == "on 15 August"
