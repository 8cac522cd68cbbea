"""The benchmark drivers' choice of app and route: ``bench_core.py --app`` and
``examples/bench_asgi.py``'s scenarios.

``--app`` makes the ASGI servers serve another app (FastAPI's hello, say), so
that the same interleaved, pinned method measures a framework's cost.  The
flag must reach the servers a session starts, and it must refuse servers that
answer with their own code, whose ratio to FastAPI would compare two apps.
A scenario names, per server, the app it serves and the route it is loaded
on, and runs on the same session code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import bench_core
from bench.results_json import read_session
from bench.servers import REFERENCE, SUBJECT, serving
from bench.summary import ratios, summarize
from examples import bench_asgi
from examples.bench_asgi import SCENARIOS

pytestmark = pytest.mark.skipif(shutil.which("taskset") is None or shutil.which("wrk") is None,
                                reason="the bench pins servers with taskset and loads with wrk")


def test_app_is_refused_for_servers_that_serve_their_own(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """The sample server and the control cannot serve FastAPI: a usage error names them."""
    with pytest.raises(SystemExit) as stopped:
        bench_core.parse_options(["--servers", "aioweb-asgi,aioweb,control",
                                  "--app", "examples.asgi_hello:fastapi_app"])
    assert stopped.value.code == 2
    assert "aioweb, control serve(s) their own app" in capsys.readouterr().err


def test_the_app_reaches_the_servers_the_session_starts(tmp_path: Path) -> None:
    """One short round of the ASGI servers on FastAPI's hello: every run is
    measured, and a server given an app that does not exist fails to start."""
    common = ["--rounds", "1", "--duration", "1", "--connections", "4", "--noisy-retries", "0"]
    results = tmp_path / "fastapi.json"
    status = bench_core.main([*common, "--servers", "aioweb-asgi,uvicorn",
                              "--app", "examples.asgi_hello:fastapi_app", "--json", str(results)])
    assert status == 0
    report = json.loads(results.read_text())
    assert "examples.asgi_hello:fastapi_app" in report["command"]
    measured = {(run["server"], run["connections"]) for run in report["runs"]}
    assert measured == {("aioweb-asgi", 4), ("uvicorn", 4)}
    # Read back (bench.bench --from-json), the servers keep their roles: one ratio.
    _, session = read_session(results)
    assert set(ratios(summarize(session, ["aioweb-asgi", "uvicorn"], [4]))) == {
        "aioweb-asgi / uvicorn"}

    missing = tmp_path / "missing.json"
    status = bench_core.main([*common, "--servers", "aioweb-asgi",
                              "--app", "examples.asgi_hello:no_such_app", "--json", str(missing)])
    assert status == 1
    report = json.loads(missing.read_text())
    assert not report["runs"]
    assert any("aioweb-asgi round 1" in failure for failure in report["failures"])


def test_every_scenario_reports_a_ratio() -> None:
    """Each of examples/bench_asgi.py's scenarios has a SUBJECT and a REFERENCE,
    and every server in it serves an app of its own choosing."""
    for name, specs in SCENARIOS.items():
        roles = {spec.role for spec in specs.values()}
        assert roles == {SUBJECT, REFERENCE}, name
        assert not any(spec.serves_any_app for spec in specs.values()), name


def test_serving_refuses_a_server_that_serves_its_own_app() -> None:
    """The sample server cannot be told to serve FastAPI."""
    with pytest.raises(ValueError, match="serves its own app"):
        serving("aioweb", "examples.asgi_hello:fastapi_app")


def test_the_hot_route_scenario_measures_its_route(capsys: pytest.CaptureFixture[str]) -> None:
    """``bench_asgi.py hot`` loads GET /prices/AAPL (the Router answers "/" with
    FastAPI's 404, which would fail the start-up check) and reports the move's ratio."""
    status = bench_asgi.main(["hot", "--rounds", "1", "--duration", "1", "--connections", "4",
                              "--noisy-retries", "0", "--markdown"])
    report = capsys.readouterr().out
    assert status == 0, report
    assert "### hot: GET /prices/AAPL" in report
    assert "| aioweb router (after) / aioweb fastapi (before) |" in report
    assert "| aioweb router (after) / uvicorn fastapi |" in report


def test_tls_is_refused_for_servers_that_serve_none(capsys: pytest.CaptureFixture[str]) -> None:
    """--tls with the sample server or the control: a usage error names them."""
    with pytest.raises(SystemExit) as stopped:
        bench_core.parse_options(["--servers", "aioweb-asgi,aioweb,control", "--tls"])
    assert stopped.value.code == 2
    assert "--tls: aioweb, control serve(s) no TLS" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("openssl") is None, reason="--tls makes its certificate with it")
def test_tls_sessions_load_over_https(tmp_path: Path) -> None:
    """One short round over HTTPS: every server gets the certificate made for the run,
    answers the start-up check and wrk over TLS, with no errors."""
    results = tmp_path / "tls.json"
    status = bench_core.main(["--rounds", "1", "--duration", "1", "--connections", "4",
                              "--noisy-retries", "0", "--servers", "aioweb-asgi,uvicorn,granian",
                              "--tls", "--json", str(results)])
    assert status == 0
    report = json.loads(results.read_text())
    assert report["settings"]["tls"] is True
    for name in ("aioweb-asgi", "uvicorn", "granian"):
        assert any(part.endswith("cert.pem") for part in report["settings"]["commands"][name])
    runs = report["runs"]
    assert {run["server"] for run in runs} == {"aioweb-asgi", "uvicorn", "granian"}
    assert all(run["result"]["requests_per_second"] > 0 for run in runs)
    assert not any(sum(run["result"]["socket_errors"].values()) or run["result"]["non_2xx_3xx"]
                   for run in runs)
