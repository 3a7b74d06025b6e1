"""Rows of results, and the three ways they leave the run: a console table, Markdown and a PNG chart."""

from __future__ import annotations

import os
import platform
import sys
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One figure. `score` is what the target judges (a ratio, ms or MiB); None when not measured."""

    figure: str
    measured: str
    baseline: str
    score: float | None
    target: str
    higher_is_better: bool | None
    limit: float | None
    note: str = ""
    judged: bool | None = None  # a target that is not a threshold on `score` (e.g. "no scans")

    @property
    def verdict(self) -> str:
        if self.judged is not None:
            return "met" if self.judged else "MISSED"
        if self.score is None or self.limit is None or self.higher_is_better is None:
            return "report" if self.score is not None else "not measured"
        met = self.score >= self.limit if self.higher_is_better else self.score <= self.limit
        return "met" if met else "MISSED"

    @property
    def score_text(self) -> str:
        if self.score is None:
            return "-"
        return f"{self.score:.3f}" if abs(self.score) < 10 else f"{self.score:.1f}"


def not_measured(figure: str, target: str, reason: str) -> Row:
    one_line = " ".join(reason.split())
    return Row(figure, f"not measured: {one_line[:200]}", "-", None, target, None, None)


HEADERS = ("figure", "measured", "baseline (same run)", "score", "target", "verdict")


def _cells(row: Row) -> tuple[str, ...]:
    return (row.figure, row.measured, row.baseline, row.score_text, row.target, row.verdict)


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = os.cpu_count() or 1
    system = f"{platform.system()} {platform.release()}"
    # The interpreter's own build moves every figure beside the hash (performance.md, fifteenth pass).
    interpreter = os.path.realpath(sys.executable)
    return f"{cpu}, {cores} cores; {system}; Python {platform.python_version()} ({interpreter})"


def console_table(rows: list[Row]) -> str:
    widths = [max(len(h), *(len(_cells(r)[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    line = "  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(_cells(r), widths, strict=True)) for r in rows]
    return "\n".join(out)


def markdown(rows: list[Row], context: list[str]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"Run {stamp} on {machine_line()}.", ""]
    out += [f"- {item}" for item in context]
    out += ["", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        cells = [c.replace("|", "\\|") for c in _cells(row)]
        out.append("| " + " | ".join(cells) + " |")
    notes = [f"- {row.figure}: {row.note}" for row in rows if row.note]
    if notes:
        out += ["", "Notes:", "", *notes]
    return "\n".join(out) + "\n"


def chart(rows: list[Row], path: Path, title: str) -> None:
    """Left: ratios where higher is better, against their targets. Right: value / limit (lower is better)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    up = [r for r in rows if r.score is not None and r.higher_is_better and r.limit]
    down = [r for r in rows if r.score is not None and r.higher_is_better is False and r.limit]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 1]}, layout="constrained"
    )
    _bars(left, up, lambda r: r.score or 0.0, "ratio to the same-run baseline\n(higher is better)")
    _bars(right, down, lambda r: (r.score or 0.0) / (r.limit or 1.0), "value / limit\n(lower is better)")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bars(axis: object, rows: list[Row], value: object, label: str) -> None:
    ax = axis  # a matplotlib Axes; typed loosely to keep matplotlib out of import time
    names = [textwrap.fill(r.figure, 30) for r in rows][::-1]
    values = [value(r) for r in rows][::-1]  # type: ignore[operator]
    colours = ["#2e7d32" if r.verdict == "met" else "#c62828" for r in rows][::-1]
    ax.barh(names, values, color=colours)  # type: ignore[attr-defined]
    for index, row in enumerate(rows[::-1]):
        target = row.limit if row.higher_is_better else 1.0
        ax.plot([target, target], [index - 0.4, index + 0.4], color="black", linewidth=2)  # type: ignore[attr-defined]
        where = max(values[index], target or 0.0) * 1.02
        ax.text(where, index, f" {row.score_text} ({row.target})", va="center", fontsize=8)  # type: ignore[attr-defined]
    ax.set_xlabel(label + "; black tick: target")  # type: ignore[attr-defined]
    ax.set_xlim(0, max([*values, 1.0]) * 1.6)  # type: ignore[attr-defined]
    ax.tick_params(axis="y", labelsize=8)  # type: ignore[attr-defined]
