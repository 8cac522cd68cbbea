"""The benchmark driver's command line: ``bench/bench_core.py --app``.

``--app`` makes the ASGI servers serve another app (FastAPI's hello, say), so
that the same interleaved, pinned method measures a framework's cost.  The
flag must reach the servers a session starts, and it must refuse servers that
answer with their own code, whose ratio to FastAPI would compare two apps.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import bench_core

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

    missing = tmp_path / "missing.json"
    status = bench_core.main([*common, "--servers", "aioweb-asgi",
                              "--app", "examples.asgi_hello:no_such_app", "--json", str(missing)])
    assert status == 1
    report = json.loads(missing.read_text())
    assert not report["runs"]
    assert any("aioweb-asgi round 1" in failure for failure in report["failures"])
