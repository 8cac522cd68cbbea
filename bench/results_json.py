"""The JSON file of a session: every raw run and the summary, written and read back.

``--json FILE`` writes it (``write_json``), for later comparison or
plotting; ``bench.bench --from-json FILE`` reads the runs back
(``read_session``) to report, plot and document that run again without
measuring.  Standard library only.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.cpu_accounting import CLIENT_CPU, SERVER_CPU, CpuShares
from bench.load_generator import LoadClient, LoadResult
from bench.servers import SERVERS, ServerSpec
from bench.session import Measurement, Session
from bench.summary import Summary, paired_ratios, ratios


def write_json(path: Path, options: argparse.Namespace, command_line: str,
               machine: dict[str, str], session: Session, summaries: Sequence[Summary],
               extra: dict[str, Any] | None = None) -> None:
    """Every raw run plus the summary, for later comparison or plotting
    (``read_session`` reads the runs back); ``extra`` adds top-level keys."""
    document: dict[str, Any] = {
        "command": command_line,
        "settings": {"rounds": options.rounds, "duration_seconds": options.duration,
                     "noisy_retries": options.noisy_retries,
                     "connections": options.connections, "servers": options.servers,
                     "app": options.app, "tls": options.tls,
                     "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU,
                     "commands": {name: list(session.specs[name].command)
                                  for name in options.servers},
                     "roles": {name: session.specs[name].role for name in options.servers},
                     "paths": {name: session.specs[name].path for name in options.servers}},
        "machine": machine,
        "client": asdict(session.client),
        "unavailable": session.unavailable,
        "runs": [asdict(m) for m in session.measurements],
        "summary": [asdict(s) for s in summaries],
        "ratios": {label: {str(c): v for c, v in row.items()}
                   for label, row in ratios(summaries).items()},
        "paired_ratios": {label: {str(c): asdict(paired) for c, paired in row.items()}
                          for label, row in paired_ratios(session, summaries).items()},
        "failures": session.failures,
        "interrupted": session.interrupted,
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)  # e.g. bench/results/, git-ignored
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def read_session(path: Path) -> tuple[dict[str, Any], Session]:
    """A file that write_json wrote: (the whole document, the session rebuilt
    from its raw runs), to report and plot a run again without measuring."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    settings = document.get("settings", {})
    # The servers as they ran (a file from before roles were written: SERVERS').
    specs = {name: ServerSpec(role, tuple(settings["commands"][name]),
                              path=settings.get("paths", {}).get(name, "/"))
             for name, role in settings["roles"].items()} if "roles" in settings else SERVERS
    session = Session(LoadClient(**document["client"]), specs,
                      failures=list(document.get("failures", [])),
                      unavailable=dict(document.get("unavailable", {})),
                      interrupted=bool(document.get("interrupted", False)))
    for run in document["runs"]:
        session.measurements.append(Measurement(
            round_number=run["round_number"], server=run["server"],
            connections=run["connections"], result=LoadResult(**run["result"]),
            cpu=CpuShares(**run["cpu"]), discarded_runs=run.get("discarded_runs", 0)))
    return document, session
