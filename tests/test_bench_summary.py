"""The benchmark's arithmetic: ratios of the medians, and ratios taken round by round.

A session here is made of measurements written by hand (the rates of three
rounds), so that each number the report prints can be checked against one
worked out on paper; the sessions that really run servers are in
``test_bench_session.py``.
"""

from __future__ import annotations

import io
import re

import pytest

from bench.cpu_accounting import NOISY_OTHER_LOAD, CpuShares
from bench.load_generator import WRK, LoadClient, LoadResult
from bench.report import print_markdown_report, print_text_report
from bench.session import Measurement, Session
from bench.summary import paired_ratios, ratios, summarize

QUIET = CpuShares(server=1.0, client=0.5, other=0.0)
NOISY = CpuShares(server=0.8, client=0.5, other=NOISY_OTHER_LOAD + 0.2)


def _session(rates: dict[str, list[float]], noisy: set[tuple[str, int]] = frozenset()
             ) -> Session:
    """One measurement per server per round at 50 connections; ``noisy`` names
    the (server, round) runs that others disturbed."""
    session = Session(LoadClient(WRK, "wrk", "wrk 4"))
    for server, per_round in rates.items():
        for number, rate in enumerate(per_round, start=1):
            session.measurements.append(Measurement(
                number, server, 50, LoadResult(rate, int(rate), {"50%": 1.0}, {}, 0),
                NOISY if (server, number) in noisy else QUIET))
    return session


def test_paired_ratios_are_taken_within_each_round() -> None:
    """aioweb / uvicorn in three rounds: 2.0, 1.5 and 3.0; their median is 2.0,
    where the ratio of the medians (100 / 40) is 2.5: the host slowed both in round 3."""
    session = _session({"aioweb": [100.0, 60.0, 120.0], "uvicorn": [50.0, 40.0, 40.0]})
    summaries = summarize(session, ["aioweb", "uvicorn"], [50])
    assert ratios(summaries)["aioweb / uvicorn"][50] == pytest.approx(2.5)
    paired = paired_ratios(session, summaries)["aioweb / uvicorn"][50]
    assert (paired.median, paired.low, paired.high, paired.rounds) == (
        pytest.approx(2.0), pytest.approx(1.5), pytest.approx(3.0), 3)


def test_a_round_with_a_noisy_run_is_left_out_while_quiet_ones_remain() -> None:
    """A round in which either server's run was noisy drops out of the paired
    ratio; when every round was noisy, all are used."""
    rates = {"aioweb": [100.0, 60.0, 120.0], "uvicorn": [50.0, 40.0, 40.0]}
    session = _session(rates, noisy={("uvicorn", 3)})
    summaries = summarize(session, ["aioweb", "uvicorn"], [50])
    paired = paired_ratios(session, summaries)["aioweb / uvicorn"][50]
    assert (paired.median, paired.low, paired.high, paired.rounds) == (
        pytest.approx(1.75), pytest.approx(1.5), pytest.approx(2.0), 2)
    everything = _session(rates, noisy={(name, n) for name in rates for n in (1, 2, 3)})
    assert paired_ratios(everything, summaries)["aioweb / uvicorn"][50].rounds == 3


def test_the_reports_print_both_ratio_tables() -> None:
    """The text and the markdown report show the ratio of the medians and, below
    it, the ratio round by round with its spread."""
    session = _session({"aioweb": [100.0, 60.0, 120.0], "uvicorn": [50.0, 40.0, 40.0]})
    summaries = summarize(session, ["aioweb", "uvicorn"], [50])
    text = io.StringIO()
    print_text_report(summaries, session, text)
    assert re.search(r"^aioweb / uvicorn +2\.50$", text.getvalue(), re.MULTILINE)
    assert re.search(r"^aioweb / uvicorn +2\.00 \(1\.50 - 3\.00\)$", text.getvalue(),
                     re.MULTILINE)
    markdown = io.StringIO()
    print_markdown_report(summaries, session, "bench", {"cpus": "2"}, markdown)
    assert "| ratio in each round: median (min - max) | c=50 |" in markdown.getvalue()
    assert "| aioweb / uvicorn | 2.00 (1.50 - 3.00) |" in markdown.getvalue()
