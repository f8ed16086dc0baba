"""One result shape for training and live tools: a recorded Open-Meteo answer gives the same tool message both ways."""

import datetime as dt
import json

from tasks.data import gazetteer, openmeteo
from tasks.serve import tools
from tests.helpers_serve import recorded


def _message(payload: dict) -> str:
    """A tool message's content as both the generator and the chat write it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def test_training_and_live_tool_messages_match_on_recorded_answers():
    geo = recorded("geocoding_portland.json")
    live = tools.call("geocode_location", {"city": "Portland"}, get_json=lambda url: geo)
    assert _message(openmeteo.shape_geocode(geo["results"], "Portland")) == _message(live)
    assert [r.get("admin1") for r in live["results"]][:2] == ["Oregon", "Maine"]
    now = recorded("forecast_current_lisbon.json")
    args = {"latitude": 38.72, "longitude": -9.13}
    live = tools.call("get_current_weather", args, get_json=lambda url: now)
    assert _message(openmeteo.shape_current(38.72, -9.13, now)) == _message(live)
    daily = recorded("forecast_daily_lisbon.json")
    live = tools.call("get_forecast", {**args, "days": 3}, get_json=lambda url: daily)
    assert _message(openmeteo.shape_forecast(38.72, -9.13, daily, 3)) == _message(live)


def test_place_table_answers_keep_accents_and_the_shared_name_rule():
    places = gazetteer.world_places()
    zurich = [p for p in places if p.name == "Zürich"]
    shaped = openmeteo.shape_geocode(openmeteo.geocode_answer(zurich)["results"], "Zurich")
    assert _message(shaped).startswith('{"results":[{"name":"Zürich"')
    portland = [p for p in places if p.name == "Portland"]
    shaped = openmeteo.shape_geocode(openmeteo.geocode_answer(portland)["results"], "Portland")
    assert len(shaped["results"]) == 2 and {r["admin1"] for r in shaped["results"]} == {"Oregon", "Maine"}


def test_current_times_fall_on_the_quarter_hour():
    assert openmeteo.quarter_hour(dt.datetime(2026, 3, 5, 7, 44, 31)) == "2026-03-05T07:30"
    assert openmeteo.quarter_hour(dt.datetime(2026, 3, 5, 23, 59)) == "2026-03-05T23:45"


def _open_meteo_answer(found_order):
    """An Open-Meteo search answer listing these places in this order, with the fields it returns."""
    return {"results": [{"name": c.name, "latitude": c.latitude, "longitude": c.longitude, "country": c.country,
                         "country_code": c.country_code, "population": c.population,
                         **({"admin1": c.admin1} if c.admin1 else {}),
                         **({"elevation": float(c.elevation)} if c.elevation is not None else {})} for c in found_order]}


def test_a_training_geocode_message_is_what_the_live_tool_makes_of_the_same_places():
    from tasks.data import weather

    cases = [("Portland", None), ("Portland", "Maine"), ("Portland", "OR"), ("Valencia", None), ("Valencia", "Spain"),
             ("Cordoba", "Argentina"), ("London", None), ("Sao Paulo", None), ("Zurich", None), ("San Jose", None)]
    for name, country in cases:
        everything = gazetteer.geocode_all(name)  # no filter: the places Open-Meteo lists, in its order
        answer = _open_meteo_answer(everything + [c._replace(population=900) for c in everything[:1]])  # plus a village
        args = {"city": name, **({"country": country} if country else {})}
        live = tools.call("geocode_location", args, get_json=lambda url, answer=answer: answer)
        trained = weather.geocode_result(gazetteer.geocode_all(name, country))
        assert _message(trained) == _message(live), (name, country)


def test_training_geocodes_carry_accents_and_drop_small_namesakes_as_the_live_tool_does():
    names = {n: [(c.name, c.country_code, c.admin1) for c in gazetteer.geocode_all(n)] for n in
             ("Sao Paulo", "Zurich", "Bogota", "Paris", "Perth", "Cologne", "Stanley")}
    assert names["Sao Paulo"] == [("São Paulo", "BR", "São Paulo")] and names["Zurich"][0][0] == "Zürich"
    assert names["Bogota"][0][0] == "Bogotá"
    assert len(names["Paris"]) == 1 and len(names["Perth"]) == 1  # Paris, Texas and Perth, Scotland are under 50,000
    assert names["Cologne"][0][0] == "Cologne"  # Open-Meteo answers in English: not "Köln"
    assert names["Stanley"][0][1] == "FK"  # the built-in capital leads its namesakes
    assert [c.country_code for c in gazetteer.geocode_all("Valencia")][:2] == ["VE", "ES"]  # population decides
    assert gazetteer.fold("São  Paulo") == "sao paulo" and gazetteer.fold("Xi’an") == "xi'an"
