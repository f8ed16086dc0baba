"""The shipped place table (data/world/) and the "not found" names checked against it."""

import random

from tasks.data import gazetteer


def test_place_table_holds_open_meteo_names_with_accents_and_time_zones():
    places = {(p.name, p.country_code): p for p in gazetteer.world_places()}
    assert len(places) > 30000
    assert places[("São Paulo", "BR")].timezone == "America/Sao_Paulo"
    assert places[("Zürich", "CH")].country == "Switzerland"
    assert places[("Zürich", "CH")].admin1 == "Zurich"  # GeoNames' admin1 name, as Open-Meteo gives it
    # admin1 as Open-Meteo returns it: GeoNames' current UTF-8 names, not an ASCII or pre-2016 copy
    assert places[("São Paulo", "BR")].admin1 == "São Paulo"
    assert places[("Paris", "FR")].admin1 == "Île-de-France"
    assert places[("Lunel", "FR")].admin1 == "Occitanie"
    assert places[("Shanghai", "CN")].admin1 == "Shanghai"
    assert sum(1 for p in gazetteer.world_places() if p.admin1) > 31000  # of 34,006 (the old ASCII source: 25,803)
    assert places[("London", "GB")].population > 7_000_000
    pops = [p.population for p in gazetteer.world_places()]
    assert pops == sorted(pops, reverse=True)


def test_not_found_names_are_not_real_places():
    for real in ("El Dorado", "Avalon", "Atlantis", "Fennville", "Gotham", "Shangri-La"):
        assert gazetteer.is_real_place(real), real
        assert real not in gazetteer.UNKNOWN_PLACES
    assert not any(gazetteer.is_real_place(n) for n in gazetteer.UNKNOWN_PLACES)
    rng = random.Random(7)
    drawn = {gazetteer.invented_place(rng) for _ in range(3000)}
    assert not [n for n in drawn if gazetteer.is_real_place(n)]
    assert "Fennville" not in drawn
