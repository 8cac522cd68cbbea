"""The ``aioweb`` command, run as a real process: what it prints, serves and exits with."""

from __future__ import annotations

import functools
import json
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from aioweb.options import read_env_file

from .command import AiowebCommand, started_commands

STARTUP_TIMEOUT = 10.0

APPS = {
    "asgi_app.py": '''
        import asyncio

        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        scope["state"]["source"] = "lifespan"
                        await send({"type": "lifespan.startup.complete"})
                    else:
                        await send({"type": "lifespan.shutdown.complete"})
                        print("shutdown complete", flush=True)
                        return
            await receive()
            if scope["path"] == "/background":
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"later"})
                await asyncio.sleep(0.5)
                print("background done", flush=True)
                return
            if scope["path"] == "/own-server":
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"server", b"app")]})
                await send({"type": "http.response.body", "body": b"own"})
                return
            text = f"asgi {scope['state'].get('source')} {scope['root_path']} {scope['path']}"
            text += f" {scope['client'] and scope['client'][0]} {scope['scheme']}"
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": text.encode()})

        def create():
            return app
    ''',
    "native_app.py": '''
        from aioweb import Response

        async def handler(request):
            return Response(f"native {request.path}")
    ''',
    "task_probe.py": '''
        import asyncio

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            # Read before any await: under --eager no Task runs the app yet.
            text = b"no task" if asyncio.current_task() is None else b"own task"
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": text})
    ''',
    "env_app.py": '''
        import os

        GREETING = os.environ["GREETING"]  # read at import: the env file came first

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            text = f"{GREETING} {os.environ.get('KEPT')} {os.environ['QUOTED']!r}"
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": text.encode()})
    ''',
    "failing_app.py": '''
        async def app(scope, receive, send):
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})
    ''',
    "broken_app.py": '''
        import module_that_does_not_exist_anywhere
    ''',
}


@pytest.fixture(name="app_dir", scope="module")
def app_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the test apps as modules."""
    directory = tmp_path_factory.mktemp("apps")
    for name, source in APPS.items():
        (directory / name).write_text(textwrap.dedent(source))
    return directory


class Cli(AiowebCommand):
    """``python -m aioweb ...`` with its stdout captured too (where apps print)."""

    def __init__(self, app_dir: Path, *args: str) -> None:
        super().__init__(app_dir, *args, stdout=subprocess.PIPE)

    def started(self) -> str:
        """Wait for the startup line; return the URL it names."""
        return self.wait_for(r"serving \S+ on (\S+)").group(1)

    def stop(self) -> tuple[int, str]:
        """SIGTERM; the exit status and stdout."""
        self.process.send_signal(signal.SIGTERM)
        stdout, _ = self.process.communicate(timeout=STARTUP_TIMEOUT)
        return self.process.returncode, stdout


@pytest.fixture(name="cli")
def cli_fixture(app_dir: Path) -> Iterator[Callable[..., Cli]]:
    """Start ``python -m aioweb``: ``cli(*args)``; killed at teardown if still running."""
    yield from started_commands(functools.partial(Cli, app_dir))


def run(app_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command to completion."""
    return subprocess.run([sys.executable, "-m", "aioweb", *args, "--app-dir", str(app_dir)],
                          capture_output=True, text=True, timeout=STARTUP_TIMEOUT, check=False)


def test_version_and_help(app_dir: Path) -> None:
    """--version names aioweb and its platform; --help lists the uvicorn-style flags."""
    version = run(app_dir, "--version")
    assert version.returncode == 0 and version.stdout.startswith("aioweb 0.1.0 with CPython")
    usage = run(app_dir, "x:y", "--help")
    assert usage.returncode == 0
    for flag in ("--uds", "--loop", "--lifespan", "--factory", "--proxy-headers",
                 "--forwarded-allow-ips", "--timeout-keep-alive", "--limit-body-size",
                 "--interface", "--no-access-log", "--root-path", "--eager", "--workers", "--fd",
                 "--reload", "--reload-dir", "--ssl-certfile", "--ssl-keyfile",
                 "--no-server-header", "--no-date-header", "--header"):
        assert flag in usage.stdout


def test_asgi_app_serves_with_lifespan_and_exits_0_on_sigterm(cli: Callable[..., Cli]) -> None:
    """An ASGI app: startup line with the real port, lifespan state and --root-path in the scope,
    an access log line, exit 0 on SIGTERM after the lifespan shutdown.
    """
    server = cli("asgi_app:app", "--port", "0", "--root-path", "/base")
    url = server.started()
    assert url.startswith("http://127.0.0.1:")
    assert httpx.get(url + "/x").text == "asgi lifespan /base /base/x 127.0.0.1 http"
    server.wait_for(r'"GET /x HTTP/1.1" 200')  # the access log is on by default
    status, stdout = server.stop()
    assert status == 0 and "shutdown complete" in stdout


def test_sigterm_lets_background_work_finish(cli: Callable[..., Cli]) -> None:
    """SIGTERM while an app's background task runs: it finishes before the lifespan
    shutdown, and the exit status is 0.
    """
    server = cli("asgi_app:app", "--port", "0")
    assert httpx.get(server.started() + "/background").text == "later"
    status, stdout = server.stop()
    assert status == 0
    assert stdout.splitlines() == ["background done", "shutdown complete"]


def test_header_flags(cli: Callable[..., Cli]) -> None:
    """--no-server-header and --no-date-header leave those lines out; --header adds
    one to every response; an app's own Server goes out alone."""
    server = cli("asgi_app:app", "--port", "0", "--no-access-log", "--no-server-header",
                 "--no-date-header", "--header", "X-Frame-Options: DENY", "--header",
                 "x-robots-tag:none")
    url = server.started()
    response = httpx.get(url + "/x")
    assert response.status_code == 200
    assert "server" not in response.headers and "date" not in response.headers
    assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert response.headers["x-robots-tag"] == "none"
    own = httpx.get(url + "/own-server")
    assert own.headers.get_list("server") == ["app"] and own.text == "own"
    assert server.stop()[0] == 0
    plain = cli("asgi_app:app", "--port", "0", "--no-access-log")
    url = plain.started()
    response = httpx.get(url + "/own-server")
    assert response.headers.get_list("server") == ["app"] and "date" in response.headers
    assert httpx.get(url + "/x").headers.get_list("server") == ["aioweb"]
    assert plain.stop()[0] == 0


LOG_FORMAT = "[%(name)s|%(levelname)s] %(message)s"
LOG_CONFIGS = {
    "logging.json": json.dumps({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "plain",
                             "stream": "ext://sys.stderr"}},
        "root": {"level": "WARNING", "handlers": ["err"]}}),
    "logging.yaml": textwrap.dedent(f"""
        version: 1
        disable_existing_loggers: false
        formatters: {{plain: {{format: "{LOG_FORMAT}"}}}}
        handlers: {{err: {{class: logging.StreamHandler, formatter: plain,
                          stream: "ext://sys.stderr"}}}}
        root: {{level: WARNING, handlers: [err]}}
    """),
    "logging.ini": textwrap.dedent(f"""
        [loggers]
        keys=root
        [handlers]
        keys=err
        [formatters]
        keys=plain
        [logger_root]
        level=WARNING
        handlers=err
        [handler_err]
        class=StreamHandler
        formatter=plain
        args=(sys.stderr,)
        [formatter_plain]
        format={LOG_FORMAT}
    """),
}


@pytest.mark.parametrize("name", list(LOG_CONFIGS))
def test_log_config(cli: Callable[..., Cli], tmp_path: Path, name: str) -> None:
    """--log-config in each form: the lines come in the file's format; its root
    level (WARNING) would hide the startup line and the access log, which
    --log-level info shows on top of it."""
    path = tmp_path / name
    path.write_text(LOG_CONFIGS[name])
    server = cli("asgi_app:app", "--port", "0", "--log-config", str(path), "--log-level", "info")
    url = server.started()
    assert server.seen[-1].startswith("[aioweb|INFO] aioweb ")
    assert httpx.get(url + "/x").status_code == 200
    server.wait_for(r'^\[aioweb\.access\|INFO\] .*"GET /x HTTP/1.1" 200')
    assert server.stop()[0] == 0


def test_a_log_config_that_does_not_load_exits_1(app_dir: Path, tmp_path: Path) -> None:
    """A missing file, or one that is no configuration: exit 1, saying which file."""
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "handlers": {"h": {"class": "no.such.Class"}}}')
    for path in (tmp_path / "missing.ini", tmp_path / "missing.json", broken):
        result = run(app_dir, "asgi_app:app", "--log-config", str(path))
        assert result.returncode == 1, result.stderr
        assert f"could not load the log config {path}" in result.stderr


def test_env_file(app_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--env-file: its variables are set before the app is imported, one already in
    the environment wins, quotes and escapes are read; a line that is no KEY=VALUE
    exits 1 naming it."""
    env_file = tmp_path / ".env"
    env_file.write_text('# settings\nexport GREETING=hello # comment\nKEPT=from-file\n'
                        'QUOTED="a \\"b\\"\\tc"\n')
    monkeypatch.setenv("KEPT", "from-env")
    server = Cli(app_dir, "env_app:app", "--port", "0", "--no-access-log", "--env-file",
                 str(env_file))
    try:
        assert httpx.get(server.started()).text == "hello from-env 'a \"b\"\\tc'"
    finally:
        server.stop()
    broken = tmp_path / "broken.env"
    broken.write_text("GOOD=1\nthis line is no assignment\n")
    result = run(app_dir, "env_app:app", "--env-file", str(broken))
    assert result.returncode == 1
    assert f"{broken}, line 2: not KEY=VALUE" in result.stderr


def test_env_file_forms(tmp_path: Path) -> None:
    """read_env_file: export, comments, blank values, a '#' inside a bare value, single
    quotes as they are, double quotes with escapes; an unclosed quote is refused."""
    path = tmp_path / ".env"
    path.write_text("\n".join([
        "# comment", "", "export A=1", "B = two words # comment", "C='raw #kept \\n'",
        'D="line\\nnext \\"q\\""', "E=", "F=a#b"]) + "\n")
    assert read_env_file(str(path)) == {"A": "1", "B": "two words", "C": "raw #kept \\n",
                                        "D": 'line\nnext "q"', "E": "", "F": "a#b"}
    path.write_text('X="never closed\n')
    with pytest.raises(ValueError, match="line 1: the \" quote is not closed"):
        read_env_file(str(path))


def test_native_handler_is_detected(cli: Callable[..., Cli]) -> None:
    """``async def handler(request)`` is served natively; --no-access-log logs no request;
    a limit flag reaches the container's Config.
    """
    server = cli("native_app:handler", "--port", "0", "--no-access-log", "--loop", "asyncio",
                 "--limit-body-size", "10")
    url = server.started()
    assert httpx.get(url + "/hi").text == "native /hi"
    assert httpx.post(url + "/hi", content=b"x" * 100).status_code == 413  # the limit flag
    status, _ = server.stop()
    assert status == 0
    assert not [line for line in server.all_lines() if "GET /hi" in line]


@pytest.mark.parametrize("eager", [False, True])
def test_eager_runs_the_app_without_a_task_until_it_waits(cli: Callable[..., Cli],
                                                          eager: bool) -> None:
    """--eager: the app's first step runs in the connection's callback, with no
    Task; by default every request gets a Task of its own."""
    server = cli("task_probe:app", "--port", "0", "--no-access-log", *(["--eager"] * eager))
    url = server.started()
    with httpx.Client() as client:  # two requests on one connection: the same each time
        assert [client.get(url).text for _ in range(2)] == ["no task" if eager else "own task"] * 2
    status, _ = server.stop()
    assert status == 0


def test_factory_proxy_headers_and_console_script(app_dir: Path) -> None:
    """--factory calls the attribute for the app; --proxy-headers lets a trusted peer set client
    and scheme; the ``aioweb`` script is installed.
    """
    script = Path(sys.executable).parent / "aioweb"
    if not script.exists():
        pytest.skip("the console script is not installed (pip install -e .)")
    server = Cli(app_dir, "asgi_app:create", "--factory", "--port", "0", "--proxy-headers",
                 "--lifespan", "off")
    try:
        url = server.started()
        answer = httpx.get(url + "/p", headers={"x-forwarded-for": "203.0.113.9",
                                                "x-forwarded-proto": "https"})
        assert answer.text == "asgi None  /p 203.0.113.9 https"
    finally:
        assert server.stop()[0] == 0
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                             timeout=STARTUP_TIMEOUT, check=False)
    assert version.returncode == 0 and "aioweb" in version.stdout


def test_https_with_the_ssl_flags(cli: Callable[..., Cli], app_dir: Path,
                                  tls_files: dict[str, Path]) -> None:
    """--ssl-certfile and --ssl-keyfile: the startup line says https, the app's scope
    too, and real clients (httpx, curl, which offers HTTP/2 by ALPN) are served;
    a certificate without its key is a clear error and exit 1, before listening."""
    server = cli("asgi_app:app", "--port", "0", "--ssl-certfile", str(tls_files["cert"]),
                 "--ssl-keyfile", str(tls_files["key"]), "--no-access-log")
    url = server.started()
    assert url.startswith("https://127.0.0.1:")
    ca = str(tls_files["ca"])
    trusting = ssl.create_default_context(cafile=ca)
    assert httpx.get(url + "/s", verify=trusting).text == "asgi lifespan  /s 127.0.0.1 https"
    curl = subprocess.run(["curl", "-sS", "--cacert", ca, url + "/c"], capture_output=True,
                          text=True, timeout=STARTUP_TIMEOUT, check=False)
    assert (curl.returncode, curl.stdout) == (0, "asgi lifespan  /c 127.0.0.1 https")
    status, _ = server.stop()
    assert status == 0
    keyless = run(app_dir, "asgi_app:app", "--port", "0", "--ssl-certfile", ca)
    assert keyless.returncode == 1
    assert "could not load the TLS certificate or key" in keyless.stderr
    assert "serving" not in keyless.stderr


def test_unix_socket(cli: Callable[..., Cli], tmp_path: Path) -> None:
    """--uds replaces a stale socket file, listens there (httpx reaches it with its UDS
    transport), and removes it at exit.
    """
    path = tmp_path / "aioweb.sock"
    with socket.socket(socket.AF_UNIX) as stale:  # a dead server's socket file, left behind
        stale.bind(str(path))
    server = cli("asgi_app:app", "--uds", str(path))
    assert server.started() == f"unix:{path}"
    transport = httpx.HTTPTransport(uds=str(path))
    with httpx.Client(transport=transport, base_url="http://aioweb") as client:
        assert client.get("/u").text == "asgi lifespan  /u None http"
    status, _ = server.stop()
    assert status == 0 and not path.exists()


def test_failed_lifespan_startup_exits_non_zero_without_listening(app_dir: Path) -> None:
    """lifespan.startup.failed: the reason is logged, nothing listens, the exit status is 3."""
    result = run(app_dir, "failing_app:app", "--port", "0")
    assert result.returncode == 3
    assert "no database" in result.stderr and "serving" not in result.stderr


@pytest.mark.parametrize("target", ["missing_module:app", "asgi_app:missing", "broken_app:app"])
def test_load_errors_exit_1(app_dir: Path, target: str) -> None:
    """A missing module or attribute, or a module that fails to import: exit status 1 and a
    message.
    """
    result = run(app_dir, target, "--port", "0")
    assert result.returncode == 1, result.stderr
    assert f"error loading {target}" in result.stderr
