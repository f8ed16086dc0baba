"""Each place on its own clock, day or night by its own sun."""

import datetime as dt

from tasks.data import gazetteer, localtime


def test_places_far_apart_read_different_clocks():
    moment = dt.datetime(2026, 1, 15, 12, 0)
    ottawa, kigali = gazetteer.CITY_BY_NAME["Ottawa"], gazetteer.CITY_BY_NAME["Kigali"]
    assert localtime.city_zone(ottawa) == "America/Toronto" and localtime.city_zone(kigali) == "Africa/Kigali"
    assert localtime.local(moment, localtime.city_zone(ottawa)).hour == 7
    assert localtime.local(moment, localtime.city_zone(kigali)).hour == 14
    assert localtime.timezone_of("Zürich", "CH") == "Europe/Zurich"


def test_day_follows_sunrise_and_sunset():
    # Oslo in December: sun up ~09:20-15:10 local (UTC+1); London in June: up ~03:45-20:20 UTC.
    assert not localtime.is_day(dt.datetime(2026, 12, 21, 15, 30), 59.91, 10.75)
    assert localtime.is_day(dt.datetime(2026, 12, 21, 11, 0), 59.91, 10.75)
    assert localtime.is_day(dt.datetime(2026, 6, 21, 20, 0), 51.51, -0.13)
    assert not localtime.is_day(dt.datetime(2026, 6, 21, 21, 0), 51.51, -0.13)
    # Singapore at local noon (UTC+8) is day, at local midnight night.
    assert localtime.is_day(dt.datetime(2026, 3, 5, 4, 0), 1.29, 103.85)
    assert not localtime.is_day(dt.datetime(2026, 3, 5, 16, 0), 1.29, 103.85)
