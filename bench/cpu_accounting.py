"""The two CPUs a benchmark run is pinned to, and who used them during a run.

The server runs on SERVER_CPU and the load generator on CLIENT_CPU, so that
the two never fight over one core.  While the load generator runs, the
session (bench/session.py) reads the kernel's CPU accounting to tell how many
CPUs' worth the server, the client and everything else used (``CpuShares``).
Everything else includes the time the host gave other machines while this one
was waiting to run (steal, on a virtual machine). A run in which others took
more than NOISY_OTHER_LOAD is noisy: it is measured again once
``wait_for_quiet`` has seen the machine calm down.
Standard library only; Linux only (/proc).
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_CPU = 0
CLIENT_CPU = 1
NOISY_OTHER_LOAD = 0.1  # CPUs' worth taken by others (processes, the host) during a run
QUIET_WAIT_SECONDS = 10  # before measuring a noisy run again: wait at most this long ...
QUIET_WINDOW_SECONDS = 1.0  # ... for one window this long in which other work stays below
SATURATED_CPU = 0.9  # a share of its core above this: that process is the bottleneck

# Two pinned CPUs are only a fair fight if nothing else runs on them.  Linux
# counts CPU time for the whole machine (/proc/stat) and per process
# (/proc/PID/stat); what the machine used during a run, minus what the server
# and the client used, is what others took from them.  The server's
# and the client's own shares tell which of the two was the bottleneck.
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU seconds the machine's CPUs have been busy or taken since boot, all
    CPUs together.

    That is user + nice + system + irq + softirq + steal.  The interrupt
    columns are in because the kernel delivers loopback packets in softirqs,
    mostly while the sending process is on the CPU, and charges the time to
    that process: leaving them out would count the client and the server for
    more than the machine.  Steal is the time a virtual machine's CPU wanted
    to run and the host ran another machine instead: no process here shows
    it, yet the server and the client lose it as surely as to a neighbour
    process (a run at 0.6 CPU server and little else, with the client idle
    too, was such a run)."""
    return busy_cpu_seconds(Path("/proc/stat").read_text(encoding="ascii"))


def busy_cpu_seconds(proc_stat: str) -> float:
    """What ``machine_cpu_seconds`` counts, from the text of /proc/stat."""
    # "cpu  user nice system idle iowait irq softirq steal ..."
    fields = proc_stat.split()
    busy_columns = fields[1:4] + fields[6:9]
    return sum(int(ticks) for ticks in busy_columns) / CLOCK_TICKS_PER_SECOND


def process_group_cpu_seconds(group_id: int) -> float:
    """CPU seconds used so far by the live processes of one process group."""
    ticks = 0
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # the process may end as we look
            text = stat_file.read_text(encoding="ascii", errors="replace")
            # After the ")" closing the command name: state ppid pgrp ... utime stime
            fields = text[text.rfind(")") + 2:].split()
            if int(fields[2]) == group_id:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS_PER_SECOND


def finished_children_cpu_seconds() -> float:
    """CPU seconds used by this driver's children that have been waited for:
    a client run counts here as soon as subprocess.run returns."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuShares:
    """Who kept the CPUs busy during a run, in CPUs' worth: 1.0 is one core
    busy for the whole run.  A share near 1.0 marks the bottleneck."""

    server: float
    client: float  # the load generator
    other: float  # everything else: should be near 0.0 on a quiet machine


def wait_for_quiet() -> float:
    """Before a noisy run is measured again, wait (QUIET_WAIT_SECONDS at most)
    until others (processes, the host) leave the CPUs alone for QUIET_WINDOW_SECONDS.

    Between runs the server idles and no client runs, so whatever the machine
    does then is other work.  Returns the last window's busy CPUs."""
    deadline = time.monotonic() + QUIET_WAIT_SECONDS
    while True:
        before = machine_cpu_seconds()
        time.sleep(QUIET_WINDOW_SECONDS)
        busy = (machine_cpu_seconds() - before) / QUIET_WINDOW_SECONDS
        if busy <= NOISY_OTHER_LOAD or time.monotonic() >= deadline:
            return busy
