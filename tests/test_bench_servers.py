"""The benchmark's reference servers do the job they stand in for, on the wire.

A ratio against the control or the floor means something only if that server
answers what aioweb answers: a 200 for a GET, and (for the floors, which do
the same work as the sample server) the request's own body for a POST, on one
kept-alive connection. Each is started as ``make bench`` starts it.
"""

from __future__ import annotations

import http.client
import shutil
from pathlib import Path

import pytest

from bench.servers import HOST, SERVERS, running_server, serving

pytestmark = pytest.mark.skipif(shutil.which("taskset") is None,
                                reason="the bench pins servers with taskset")


@pytest.mark.parametrize("name", ["control", "floor", "floor-asgi"])
def test_reference_server_answers_on_one_connection(name: str, tmp_path: Path) -> None:
    """GET, then (floors) a POST echoed, then a GET again, all on one connection."""
    with running_server(SERVERS[name], tmp_path) as (_process, port):
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"")
            if name != "control":  # the control answers without reading the request
                connection.request("POST", "/", body=b"echo me")
                response = connection.getresponse()
                assert (response.status, response.read()) == (200, b"echo me")
                assert response.getheader("date") and response.getheader("server")
            connection.request("GET", "/")
            assert connection.getresponse().status == 200
        finally:
            connection.close()


@pytest.mark.parametrize("name", ["floor-asgi", "aioweb-asgi", "uvicorn"])
def test_asgi_servers_serve_the_app_they_are_given(name: str, tmp_path: Path) -> None:
    """--app (bench_core, wire_cost): an ASGI server runs the app named, not the echo (the
    FastAPI hello answers "hello" where the echo answers an empty body)."""
    if not SERVERS[name].serves_any_app:
        pytest.fail(f"{name} cannot be given an app")
    with running_server(serving(name, "examples.asgi_hello:fastapi_app"), tmp_path) as (_, port):
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"hello")
        finally:
            connection.close()
    assert not SERVERS["aioweb"].serves_any_app  # the sample server serves its own handler
