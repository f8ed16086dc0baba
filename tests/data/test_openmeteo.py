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
