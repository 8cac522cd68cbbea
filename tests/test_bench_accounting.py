"""The benchmark's CPU accounting counts what the pinned cores lost, steal included.

A run is measured again when others took CPU time from the server's and the
client's cores (bench/session.py). On a virtual machine the host can take it
without any process here showing it: /proc/stat's steal column. These tests
feed ``busy_cpu_seconds`` a /proc/stat text, since steal cannot be made on
demand, and read the real file once.
"""

from __future__ import annotations

from bench.cpu_accounting import CLOCK_TICKS_PER_SECOND, busy_cpu_seconds, machine_cpu_seconds

# cpu  user nice system idle iowait irq softirq steal guest guest_nice
PROC_STAT = ("cpu  1000 10 300 50000 40 5 60 {steal} 0 0\n"
             "cpu0 500 5 150 25000 20 2 30 0 0 0\n")


def test_steal_counts_as_time_the_machine_lost() -> None:
    """User, nice, system, irq, softirq and steal count; idle and iowait do not."""
    without = busy_cpu_seconds(PROC_STAT.format(steal=0))
    assert without * CLOCK_TICKS_PER_SECOND == 1000 + 10 + 300 + 5 + 60
    stolen = busy_cpu_seconds(PROC_STAT.format(steal=250)) - without
    assert stolen * CLOCK_TICKS_PER_SECOND == 250


def test_the_machine_counter_reads_this_machine() -> None:
    """The real /proc/stat parses, and the count never goes backwards."""
    first = machine_cpu_seconds()
    assert first > 0
    assert machine_cpu_seconds() >= first
