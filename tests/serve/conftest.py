"""The `open_meteo` fixture: recorded Open-Meteo answers on a local server, with the tools pointed at it."""

import pytest

from tests.helpers_serve import Server, open_meteo_handler


@pytest.fixture
def open_meteo(monkeypatch):
    server = Server(open_meteo_handler)
    monkeypatch.setenv("OPEN_METEO_GEOCODING_URL", server.url + "/v1/search")
    monkeypatch.setenv("OPEN_METEO_FORECAST_URL", server.url + "/v1/forecast")
    yield server
    server.close()
