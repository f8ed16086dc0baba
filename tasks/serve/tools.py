"""The three weather tools for real: Open-Meteo's geocoding and forecast APIs, answered in the training shapes.

    python -m tasks.serve.tools geocode_location '{"city": "Lisbon"}'
    python -m tasks.serve.tools get_forecast '{"latitude": 38.72, "longitude": -9.13, "days": 2}'
    python -m tasks.serve.tools get_current_weather '{"latitude": 38.72, "longitude": -9.13}'

`call(name, arguments)` is what the chat (tasks/serve/chat.py) runs for each tool call. It asks the
free, keyless Open-Meteo APIs (https://open-meteo.com/en/docs and /en/docs/geocoding-api) with the
standard library's urllib and a timeout, and returns exactly what the model saw in training
(tasks/data/weather.py: `current()`, `forecast()`, `geocode_result()`): the same fields in the same
order, the same units, `weather_description` from the one shared table (`weather.describe`), and
coordinates as the model asked for them. Open-Meteo's extra fields (ids, time zone, generation time,
population) are left out because the model never saw them.

Failures become the tool results the model was trained to explain (tasks/data/convo/errors.py):
`{"error": true, "reason": ...}` (also Open-Meteo's own error shape) with the generator's wording
where it is true (`Request timed out`, `Internal server error`, ...), and `{"results": []}` when no
place matches. Forecasts beyond 14 days are refused before any request.

OPEN_METEO_GEOCODING_URL and OPEN_METEO_FORECAST_URL replace the endpoints (tests point them at a
local server with recorded answers); the default is the real API.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from tasks import ui
from tasks.data import openmeteo, weather

TAG = "TOOLS"
GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
TIMEOUT_S = 10.0
USER_AGENT = "weatherman-lora (https://open-meteo.com is free for non-commercial use)"

# Fields and result shapes are tasks/data/openmeteo.py's, shared with the generator.
CURRENT_FIELDS, DAILY_FIELDS = openmeteo.CURRENT_FIELDS, openmeteo.DAILY_FIELDS

# The failure reasons the generator's error conversations use (tasks.data.convo.errors.TOOL_FAILURES), by cause.
TIMED_OUT = "Request timed out"
SERVER_ERROR = "Internal server error"
UNAVAILABLE = "Service temporarily unavailable"
RATE_LIMITED = "Too many requests, rate limit exceeded"
RESET = "Connection reset by peer"
UPSTREAM = "Upstream data source unavailable"

GetJson = Callable[[str], dict]


class ToolError(Exception):
    """A failure the tool reports to the model as {"error": true, "reason": str(exc)}."""


def endpoints() -> tuple[str, str]:
    """(geocoding URL, forecast URL): the real API unless the environment names others."""
    return (os.environ.get("OPEN_METEO_GEOCODING_URL") or GEOCODING_URL,
            os.environ.get("OPEN_METEO_FORECAST_URL") or FORECAST_URL)


def http_get_json(url: str, timeout: float = TIMEOUT_S) -> dict:
    """GET a JSON object; every network or HTTP failure becomes a ToolError with the trained wording."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise ToolError(_http_reason(exc)) from exc
    except (TimeoutError, socket.timeout) as exc:
        raise ToolError(TIMED_OUT) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise ToolError(TIMED_OUT) from exc
        raise ToolError(RESET if isinstance(exc.reason, ConnectionResetError) else UPSTREAM) from exc
    except ConnectionResetError as exc:
        raise ToolError(RESET) from exc
    except OSError as exc:
        raise ToolError(UPSTREAM) from exc
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise ToolError(UPSTREAM) from exc
    if not isinstance(value, dict):
        raise ToolError(UPSTREAM)
    return value


def _http_reason(exc: urllib.error.HTTPError) -> str:
    if exc.code == 429:
        return RATE_LIMITED
    if exc.code in (502, 503, 504):
        return UNAVAILABLE
    if exc.code >= 500:
        return SERVER_ERROR
    # Open-Meteo answers a bad request with {"error": true, "reason": "..."}: pass its reason on.
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        body = {}
    reason = body.get("reason") if isinstance(body, dict) else None
    return str(reason) if reason else f"HTTP {exc.code} from the weather service"


# ----------------------------------------------------------------- arguments


def check_arguments(name: str, arguments) -> dict:
    """The arguments as a dict, checked against configs/tools.json; a ToolError names what is wrong."""
    from tasks.train.template import TOOLS_BY_NAME

    if name not in TOOLS_BY_NAME:
        raise ToolError(f"unknown tool {name!r} (available: {', '.join(TOOLS_BY_NAME)})")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            raise ToolError(f"{name}: arguments are not JSON ({exc})") from exc
    if not isinstance(arguments, dict):
        raise ToolError(f"{name}: arguments must be an object")
    schema = TOOLS_BY_NAME[name]["parameters"]
    props = schema["properties"]
    unknown = sorted(set(arguments) - set(props))
    missing = [k for k in schema.get("required", []) if k not in arguments]
    if unknown or missing:
        raise ToolError(f"{name}: " + "; ".join(([f"unknown argument(s) {', '.join(unknown)}"] if unknown else [])
                                                + ([f"missing {', '.join(missing)}"] if missing else [])))
    for key, value in arguments.items():
        spec = props[key]
        kind = spec["type"]
        if kind == "string":
            if not isinstance(value, str) or len(value.strip()) < spec.get("minLength", 0):
                raise ToolError(f"{name}: {key} must be a non-empty string (got {value!r})")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "integer" and int(value) != value):
            raise ToolError(f"{name}: {key} must be {'an integer' if kind == 'integer' else 'a number'} (got {value!r})")
        lo, hi = spec.get("minimum"), spec.get("maximum")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if key == "days":
                raise ToolError(f"days={value}: the forecast covers 1 to {weather.MAX_FORECAST_DAYS} days")
            raise ToolError(f"{name}: {key}={value} is outside {lo} to {hi}")
        arguments[key] = int(value) if kind == "integer" else float(value)
    return arguments


# ----------------------------------------------------------------- the three tools


# The query-side filter (country, then state or region, then all) is shared with the generator.
COUNTRY_ALIASES, US_STATES = openmeteo.COUNTRY_ALIASES, openmeteo.US_STATES
country_matches, region_matches, narrow = openmeteo.country_matches, openmeteo.region_matches, openmeteo.narrow


def geocode_location(args: dict, get_json: GetJson) -> dict:
    """{"results": [{name, latitude, longitude, elevation, country, country_code[, admin1]}]} or {"results": []}."""
    city, country = args["city"].strip(), (args.get("country") or "").strip()
    if not country and "," in city:
        city, country = (part.strip() for part in city.rsplit(",", 1))  # "Lisbon, Portugal" in one argument
    query = {"name": city, "count": 10, "language": "en", "format": "json"}
    if len(country) == 2 and country.isalpha():
        query["countryCode"] = country.upper()
    answer = get_json(endpoints()[0] + "?" + urllib.parse.urlencode(query))
    results = answer.get("results") or []  # Open-Meteo omits `results` when nothing matches
    if not results and "countryCode" in query:
        # Two letters may be a state ("Portland, OR"), which Open-Meteo's country filter knows nothing of.
        del query["countryCode"]
        answer = get_json(endpoints()[0] + "?" + urllib.parse.urlencode(query))
        results = answer.get("results") or []
    if country:
        results = narrow(results, country)
    return openmeteo.shape_geocode(results, city)


def get_current_weather(args: dict, get_json: GetJson) -> dict:
    """The `current()` shape of tasks/data/weather.py from Open-Meteo's `current=` block."""
    query = {"latitude": args["latitude"], "longitude": args["longitude"], "current": ",".join(CURRENT_FIELDS), "timezone": "auto"}
    answer = get_json(endpoints()[1] + "?" + urllib.parse.urlencode(query))
    shaped = openmeteo.shape_current(args["latitude"], args["longitude"], answer)
    if shaped is None:
        raise ToolError(UPSTREAM)
    return shaped


def get_forecast(args: dict, get_json: GetJson) -> dict:
    """The `forecast()` shape of tasks/data/weather.py from Open-Meteo's `daily=` block, `days` rows from today."""
    days = args["days"]
    query = {"latitude": args["latitude"], "longitude": args["longitude"], "daily": ",".join(DAILY_FIELDS),
             "timezone": "auto", "forecast_days": days}
    answer = get_json(endpoints()[1] + "?" + urllib.parse.urlencode(query))
    shaped = openmeteo.shape_forecast(args["latitude"], args["longitude"], answer, days)
    if shaped is None:
        raise ToolError(UPSTREAM)
    return shaped


TOOLS = {"geocode_location": geocode_location, "get_current_weather": get_current_weather, "get_forecast": get_forecast}


def call(name: str, arguments, get_json: GetJson | None = None) -> dict:
    """Run one tool call; never raises for a tool failure: the model gets the error result to explain."""
    try:
        args = check_arguments(name, arguments)
        return TOOLS[name](args, get_json or http_get_json)
    except ToolError as exc:
        return {"error": True, "reason": str(exc)}


def run(name: str, arguments: str) -> None:
    try:
        parsed = json.loads(arguments)
    except ValueError as exc:
        raise ui.Fail(f"arguments {arguments!r}: not JSON ({exc}); e.g. '{{\"city\": \"Lisbon\"}}'") from exc
    result = call(name, parsed)
    print(json.dumps(result, ensure_ascii=False))
    if result.get("error"):
        raise ui.Fail(f"[{TAG}] {name}: {result['reason']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(TOOLS))
    parser.add_argument("arguments", help="the call's arguments as a JSON object")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.name, args.arguments)


if __name__ == "__main__":
    raise SystemExit(main())
