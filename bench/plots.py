"""The benchmark's two plots, drawn with matplotlib (Agg: no display needed).

* ``throughput.png``: median requests/second per server, grouped by
  connection count, with the min - max over the rounds as an error bar;
* ``latency.png``: the median p50 / p90 / p99 latency per server, one panel
  per connection count (each panel has its own scale: 1 connection and 256
  connections differ by two orders of magnitude).

A bar whose runs saw errors (socket errors or error statuses) is hatched and
its server's legend entry says so: its numbers count failed requests too.
Input is bench/summary.py's list of ``Summary``; bench/bench.py calls these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: render to files, never to a screen

# pylint: disable=wrong-import-position
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from bench.summary import Summary  # noqa: E402

PERCENTILES = ("50%", "90%", "99%")
PERCENTILE_COLORS = ("#4c72b0", "#dd8452", "#c44e52")
# One color per server, the same in every plot; servers beyond these cycle.
SERVER_COLORS = ("#1f77b4", "#17becf", "#aec7e8", "#7f7f7f", "#e377c2", "#ff7f0e", "#2ca02c",
                 "#d62728", "#9467bd", "#8c564b")
ERROR_HATCH = "///"
DPI = 120
BAR_GROUP_WIDTH = 0.8  # of the space between two groups' centres


def server_color(servers: Sequence[str], server: str) -> str:
    """The server's color: by its place in the servers' order."""
    return SERVER_COLORS[servers.index(server) % len(SERVER_COLORS)]


def short_count(value: float) -> str:
    """A bar label: 1234 -> '1.2k', 123456 -> '123k'."""
    if value >= 100_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def short_ms(value: float) -> str:
    """A bar label in milliseconds, with as many digits as it needs."""
    if value >= 10:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}"
    if value >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def has_errors(summary: Summary) -> bool:
    """Did any of this summary's runs see errors?"""
    return bool(summary.socket_errors or summary.non_2xx_3xx)


def plot_throughput(summaries: Sequence[Summary], subtitle: str, path: Path) -> None:
    """Grouped bars: one group per connection count, one bar per server."""
    servers = list(dict.fromkeys(s.server for s in summaries))
    counts = sorted({s.connections for s in summaries})
    by_key = {(s.server, s.connections): s for s in summaries}
    bar_width = BAR_GROUP_WIDTH / max(len(servers), 1)
    figure, axes = plt.subplots(figsize=(11, 6))
    tallest = max((s.max_requests_per_second for s in summaries), default=1.0)
    for index, server in enumerate(servers):
        offset = (index - (len(servers) - 1) / 2) * bar_width
        chosen = [by_key[server, c] for c in counts if (server, c) in by_key]
        positions = [counts.index(s.connections) + offset for s in chosen]
        medians = [s.median_requests_per_second for s in chosen]
        spread = [[s.median_requests_per_second - s.min_requests_per_second for s in chosen],
                  [s.max_requests_per_second - s.median_requests_per_second for s in chosen]]
        bars = axes.bar(positions, medians, bar_width * 0.95, yerr=spread, capsize=3,
                        color=server_color(servers, server), edgecolor="black", linewidth=0.5,
                        label=server + (" (errors!)" if any(map(has_errors, chosen)) else ""),
                        error_kw={"elinewidth": 0.8, "ecolor": "#333333"})
        for rectangle, summary in zip(bars, chosen):
            if has_errors(summary):
                rectangle.set_hatch(ERROR_HATCH)
            centre = rectangle.get_x() + rectangle.get_width() / 2
            axes.annotate(short_count(summary.median_requests_per_second),
                          (centre, summary.max_requests_per_second),
                          xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                          fontsize=7, rotation=90 if len(servers) > 4 else 0)
    axes.set_xticks(range(len(counts)), [f"{c}" for c in counts])
    axes.set_xlabel("concurrent keep-alive connections (closed loop: each sends its next "
                    "request when the answer is in)")
    axes.set_ylabel("requests per second (median over rounds)")
    axes.set_ylim(0, tallest * 1.22)  # room for the labels above the tallest bar
    axes.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.set_title("Throughput: GET / answered with an empty 200, server pinned to one core\n"
                   + subtitle, fontsize=10)
    handles, labels = axes.get_legend_handles_labels()
    if any(map(has_errors, summaries)):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch=ERROR_HATCH))
        labels.append("hatched: the client saw errors")
    axes.legend(handles, labels, title="server\n(error bar: min - max)", fontsize=8,
                title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    save(figure, path)


def plot_latency(summaries: Sequence[Summary], subtitle: str, path: Path) -> None:
    """One panel per connection count: p50 / p90 / p99 bars per server."""
    servers = list(dict.fromkeys(s.server for s in summaries))
    counts = sorted({s.connections for s in summaries})
    by_key = {(s.server, s.connections): s for s in summaries}
    columns = min(len(counts), 2)
    rows = math.ceil(len(counts) / columns) if counts else 1
    figure, panels = plt.subplots(rows, max(columns, 1), figsize=(13.5, 4.2 * rows + 0.8),
                                  squeeze=False)
    bar_width = BAR_GROUP_WIDTH / len(PERCENTILES)
    for panel, connections in zip(panels.flat, counts):
        present = [name for name in servers if (name, connections) in by_key]
        for index, (percentile, color) in enumerate(zip(PERCENTILES, PERCENTILE_COLORS)):
            offset = (index - (len(PERCENTILES) - 1) / 2) * bar_width
            values = [by_key[name, connections].median_latency_ms.get(percentile, math.nan)
                      for name in present]
            bars = panel.bar([i + offset for i in range(len(present))], values,
                             bar_width * 0.95, color=color, edgecolor="black", linewidth=0.5,
                             label=f"p{percentile.rstrip('%')}")
            for rectangle, name, value in zip(bars, present, values):
                if has_errors(by_key[name, connections]):
                    rectangle.set_hatch(ERROR_HATCH)
                if not math.isnan(value):
                    centre = rectangle.get_x() + rectangle.get_width() / 2
                    panel.annotate(short_ms(value), (centre, value),
                                   xytext=(0, 2), textcoords="offset points", ha="center",
                                   va="bottom", fontsize=6.5)
        style_latency_panel(panel, present, connections)
    for unused in list(panels.flat)[len(counts):]:
        unused.set_visible(False)
    handles, labels = panels.flat[0].get_legend_handles_labels()
    if any(map(has_errors, summaries)):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch=ERROR_HATCH))
        labels.append("hatched: the client saw errors")
    figure.legend(handles, labels, loc="upper right", fontsize=9, title="percentile",
                  title_fontsize=9)
    figure.suptitle("Latency percentiles (median over rounds), server pinned to one core\n"
                    + subtitle, fontsize=10)
    figure.tight_layout(rect=(0, 0, 0.92, 0.95))
    save(figure, path)


def style_latency_panel(panel: Axes, servers: Sequence[str], connections: int) -> None:
    """Axis labels, ticks and grid of one latency panel."""
    panel.set_xticks(range(len(servers)), servers, fontsize=8)
    panel.set_ylabel("latency (ms)")
    panel.set_title(f"{connections} concurrent connection{'s' if connections != 1 else ''}",
                    fontsize=10)
    top = panel.get_ylim()[1]
    panel.set_ylim(0, top * 1.12)  # room for the labels
    panel.grid(axis="y", alpha=0.3)
    panel.set_axisbelow(True)


def save(figure: Figure, path: Path) -> None:
    """Write the PNG and free the figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def plot_all(summaries: Sequence[Summary], subtitle: str, directory: Path) -> list[Path]:
    """Both plots into ``directory``; returns their paths (none if nothing was measured)."""
    if not summaries:
        return []
    paths = [directory / "throughput.png", directory / "latency.png"]
    plot_throughput(summaries, subtitle, paths[0])
    plot_latency(summaries, subtitle, paths[1])
    return paths
