"""A local HTTP server that answers like Open-Meteo from tests/recordings/open-meteo, or fails on demand (not a test module).

tests/serve/conftest.py turns it into the `open_meteo` fixture, which also points tasks/serve/tools.py and the
AnythingLLM skills at it through OPEN_METEO_GEOCODING_URL and OPEN_METEO_FORECAST_URL.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORDINGS = Path(__file__).resolve().parent / "recordings" / "open-meteo"


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that gave up (the timeout tests) is expected: no traceback on stderr


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 with a free port; `requests` collects (path, query or body) per call."""

    def __init__(self, handler_factory):
        self.requests: list[tuple[str, dict]] = []
        self.httpd = _Quiet(("127.0.0.1", 0), handler_factory(self))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def recorded(name: str) -> dict:
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))


def open_meteo_handler(server):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            server.requests.append((url.path, query))
            if server.sleep:
                time.sleep(server.sleep)
            if server.status:
                body = recorded("forecast_error_400.json") if server.status == 400 else {"error": True, "reason": "down"}
                return self._send(server.status, body)
            if url.path == "/v1/search":
                name = query.get("name", "").casefold()
                body = recorded(f"geocoding_{name}.json" if name in ("lisbon", "portland") else "geocoding_nothing.json")
                if "countryCode" in query:  # Open-Meteo filters by ISO code itself and omits `results` when none is left
                    kept = [r for r in body.get("results", []) if r.get("country_code") == query["countryCode"]]
                    body = {k: v for k, v in body.items() if k != "results"} | ({"results": kept} if kept else {})
                return self._send(200, body)
            if url.path == "/v1/forecast" and "current" in query:
                return self._send(200, recorded("forecast_current_lisbon.json"))
            if url.path == "/v1/forecast" and "daily" in query:
                body = recorded("forecast_daily_lisbon.json")
                n = int(query.get("forecast_days", 7))  # the API returns exactly forecast_days rows
                body["daily"] = {k: v[:n] for k, v in body["daily"].items()}
                return self._send(200, body)
            return self._send(404, {"error": True, "reason": "not found"})

        def _send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server.status, server.sleep = None, 0
    return Handler
