"""The benchmark harness itself runs: a seconds-long smoke run writes every figure's row and the chart.

Nothing here asserts a time or a ratio; benchmarks report, tests check that they can.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.context import Run
from bench.figures_aws import COLD, IMPORT, WARM
from bench.figures_aws_path import FIGURE as AWS_COLD
from bench.figures_http import HELLO, LOGIN, LOGIN_LIMIT, RSS, SIGNIN, Rates, ratio_row, refusals
from bench.figures_postgres import FIGURE_POSTGRES
from bench.figures_revocation import FIGURE as REVOCATION
from bench.figures_storage import FIGURE_DYNAMODB, FIGURE_SQLITE
from bench.figures_workers import FIGURES as WORKER_FIGURES
from bench.loadgen import busiest_threads, thread_seconds
from bench.procs import Cores
from bench.profile import SMOKE

REPO = Path(__file__).resolve().parents[2]
FIGURES = [LOGIN, SIGNIN, HELLO, REVOCATION, COLD, AWS_COLD, WARM, IMPORT, RSS, FIGURE_SQLITE]
FIGURES += [FIGURE_DYNAMODB, FIGURE_POSTGRES, *WORKER_FIGURES]


def _table_rows(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| figure"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows[cells[0]] = cells
    return rows


def test_smoke_run_writes_every_figure(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    markdown = (tmp_path / "latest.md").read_text()
    rows = _table_rows(markdown)
    assert set(FIGURES) <= set(rows), f"missing rows: {set(FIGURES) - set(rows)}"
    for figure in FIGURES:
        figure_row = rows[figure]
        assert len(figure_row) == 6, figure_row
        measured, verdict = figure_row[1], figure_row[5]
        # A figure is either measured (a verdict against its target) or says why it is not.
        assert verdict in {"met", "MISSED", "report"} or measured.startswith("not measured: "), figure_row
    # Every figure needs nothing outside this repository and its dev extras (and the PostgreSQL package
    # that `make test` installs), so each must be measured: a load the server refused (429 from a limit,
    # 401 from a token signed with other keys) is "not measured: error: requests refused", not a rate.
    for figure in FIGURES:
        assert not rows[figure][1].startswith("not measured"), rows[figure]
    # The hash figures split their CPU: the hashing threads' and the rest.
    for figure in (LOGIN, SIGNIN, *WORKER_FIGURES):
        assert f"- {figure}: " in markdown
        note = markdown.split(f"- {figure}: ", 1)[1].split("\n", 1)[0]
        assert "CPU per completion: hashing threads " in note, note
    assert (tmp_path / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Cores:" in markdown


def test_a_refused_load_is_an_error_not_a_rate() -> None:
    refused = {"completed": 3, "seconds": 1.0, "server_cpu_seconds": 0.9, "errors": {"login 429": 40}}
    assert refusals(refused).startswith("error: requests refused (login 429 x40")
    assert refusals({**refused, "completed": 0, "errors": {}}).startswith("error: no request completed")
    assert refusals({**refused, "errors": {}}) == ""
    hashes = Rates(50.0, 50.0)
    row = ratio_row(LOGIN, refused, hashes, "bare", LOGIN_LIMIT, Run(SMOKE, Cores(None, None), REPO))
    assert row.measured.startswith("not measured: error: requests refused"), row
    assert row.verdict == "not measured"


def test_busiest_threads_sum_each_threaded_process() -> None:
    before = {1: {"1": 5.0, "2": 1.0}, 7: {"7": 3.0}}
    # Process 1's second thread worked 2 s, a thread started meanwhile 0.5 s; process 7 has one thread
    # (a PostgreSQL backend) and is left out; process 9 started in the window.
    after = {1: {"1": 5.5, "2": 3.0, "3": 0.5}, 7: {"7": 9.0}, 9: {"9": 0.1, "10": 1.5}}
    assert busiest_threads(before, after) == 2.0 + 1.5


def test_thread_seconds_finds_the_busy_thread() -> None:
    spun, release = threading.Event(), threading.Event()
    tid: list[str] = []

    def spin() -> None:
        tid.append(str(threading.get_native_id()))
        end = time.thread_time() + 0.2  # CPU time, well above /proc's 10 ms ticks
        while time.thread_time() < end:
            pass
        spun.set()
        release.wait(10)  # alive while sampled: a finished thread leaves /proc

    before = thread_seconds(os.getpid())
    thread = threading.Thread(target=spin)
    thread.start()
    try:
        assert spun.wait(10)
        after = thread_seconds(os.getpid())
    finally:
        release.set()
        thread.join()
    assert max(after, key=lambda task: after[task] - before.get(task, 0.0)) == tid[0]
