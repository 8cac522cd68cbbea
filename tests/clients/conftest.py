"""Fixtures for the client tests: client.go built once, client.py loaded as
a module, and broken_server.py started once per mode."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).with_name("broken_server.py")
CLIENT_PY = ROOT / "client.py"

RunClient = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """client.go built once; the tests that need it skip if go is absent."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed")
    out = tmp_path_factory.mktemp("goclient") / "client"
    env = dict(os.environ, GOTOOLCHAIN="local", CGO_ENABLED="0")
    proc = subprocess.run([go, "build", "-o", str(out), "client.go"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode:
        pytest.fail(f"go build failed:\n{proc.stderr}")
    return out


@pytest.fixture(scope="session")
def pyclient() -> ModuleType:
    """client.py imported as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("aioweb_client_py", CLIENT_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class Servers:
    """broken_server.py processes, one per mode, started on first use."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.urls: dict[str, str] = {}

    def url(self, mode: str) -> str:
        """The URL of a server in this mode."""
        if mode not in self.urls:
            proc = subprocess.Popen([sys.executable, str(SERVER), mode],  # pylint: disable=consider-using-with
                                    stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("listening on "):
                proc.kill()
                pytest.fail(f"broken_server.py {mode} did not start: {line!r}")
            self.procs[mode] = proc
            self.urls[mode] = line.split()[-1]
        return self.urls[mode]

    def close(self) -> None:
        """Stop every server."""
        for proc in self.procs.values():
            proc.kill()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """The broken_server.py processes of the session."""
    started = Servers()
    yield started
    started.close()


@pytest.fixture(scope="session")
def refused_url() -> str:
    """A loopback URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def client_command(kind: str, go_binary: Path | None) -> list[str]:
    """The command line that runs one of the clients."""
    if kind == "go":
        assert go_binary is not None
        return [str(go_binary)]
    return [sys.executable, str(CLIENT_PY)]


def run_command(cmd: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a client; fail the test on a non-zero exit."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode:
        pytest.fail(f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(params=["go", "py"])
def client(request: pytest.FixtureRequest) -> tuple[str, list[str]]:
    """Each client in turn, as (name, command prefix)."""
    kind: str = request.param
    binary = request.getfixturevalue("go_client") if kind == "go" else None
    return kind, client_command(kind, binary)


@pytest.fixture
def run_json(client: tuple[str, list[str]]) -> RunClient:  # pylint: disable=redefined-outer-name
    """Run the client of this test with -json and return its report."""

    def run(*args: str, timeout: float = 30) -> dict[str, Any]:
        proc = run_command([*client[1], "-json", *args], timeout)
        report: dict[str, Any] = json.loads(proc.stdout)
        return report

    return run
