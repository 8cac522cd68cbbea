"""Build aioweb's optional compiled form: the same source, its hot path compiled by mypyc.

    .venv/bin/python scripts/build_compiled.py          # -> build/compiled/aioweb
    PYTHONSAFEPATH=1 PYTHONPATH=build/compiled:. .venv/bin/python sample_server.py --uvloop

The package in ``aioweb/`` is the one to read, step through and change; it
is what ``make run`` and ``make test`` use. This script copies it to
``build/compiled/aioweb`` and compiles the modules in :data:`COMPILED` there
into C extensions with mypyc (which ships with mypy: the type annotations
that ``mypy --strict`` checks are what it compiles from). An extension
module next to a ``.py`` of the same name is what ``import`` loads, so the
copy runs compiled wherever it comes first on ``sys.path``: ``PYTHONPATH``
puts it there, and ``PYTHONSAFEPATH=1`` (Python 3.11's ``-P``) keeps the
script's own directory, which holds the readable package, from coming
before it.

Which modules: the ones every request runs through, no more
(docs/compiled.md has the measurements). The contract stays Python because
handlers subclass its ABCs, and a compiled class cannot be subclassed by an
interpreted one; the errors because they subclass built-in exceptions;
listening, signals and the command line because they run once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DESTINATION = ROOT / "build" / "compiled"

# The per-request path, in reading order.
COMPILED = (
    "aioweb/http11/phases.py",
    "aioweb/http11/reader.py",
    "aioweb/http11/writer.py",
    "aioweb/http11/compression.py",
    "aioweb/server/transport_control.py",
    "aioweb/server/eager.py",
    "aioweb/server/respond.py",
    "aioweb/server/request.py",
    "aioweb/server/connection.py",
    # An ASGI request's receive() and send(), and the handler that calls the app.
    "aioweb/asgi/exchange.py",
    "aioweb/asgi/handler.py",
)

# Run in the copy's directory, so that build_ext --inplace puts each extension
# beside its .py there (and never into the readable package).
_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
setup(name="aioweb-compiled", script_args=["build_ext", "--inplace"],
      ext_modules=mypycify(sys.argv[1:], group_name="aioweb", opt_level="3"))
"""


def build(destination: Path) -> list[Path]:
    """Copy the package to ``destination`` and compile COMPILED there; the extensions made."""
    package = destination / "aioweb"
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(ROOT / "aioweb", package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-c", _SETUP, *COMPILED], cwd=destination, check=True,
                   env={**os.environ, "MYPYPATH": ""})
    shutil.rmtree(destination / "build", ignore_errors=True)  # mypyc's C files and objects
    extensions = sorted(destination.rglob("*.so"))
    missing = [module for module in COMPILED
               if not any(ext.name.startswith(Path(module).stem + ".")
                          and ext.parent == destination / Path(module).parent
                          for ext in extensions)]
    if missing:
        raise SystemExit(f"not compiled: {', '.join(missing)}")
    return extensions


def check(destination: Path) -> None:
    """Import the copy as the servers will, and fail unless the compiled modules load."""
    probe = ("import sys, aioweb.server.connection as c, aioweb.http11.reader as r; "
             "sys.exit(0 if c.__file__.endswith('.so') and r.__file__.endswith('.so') else 1)")
    env = {**os.environ, "PYTHONSAFEPATH": "1", "PYTHONPATH": str(destination)}
    if subprocess.run([sys.executable, "-c", probe], env=env, check=False).returncode:
        raise SystemExit(f"{destination}: the compiled modules do not load")


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, build, check."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DESTINATION,
                        help="where the compiled copy goes (build/compiled)")
    args = parser.parse_args(argv)
    extensions = build(args.dest)
    check(args.dest)
    print(f"{len(extensions)} extension modules in {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
