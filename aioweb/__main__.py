"""``python -m aioweb module:app``: the same as the ``aioweb`` command (see ``aioweb/cli.py``)."""

from aioweb.cli import main

raise SystemExit(main())
