"""`python -m bench [--smoke] [--out DIR]`: run every figure, print the table, write Markdown and PNG.

Always exits 0 when the run itself worked: benchmarks report, they do not gate. A figure that could
not be measured says why in its row instead of showing a number.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))  # the checkout's twostep, as the children import it

from bench import (  # noqa: E402
    figures_aws,
    figures_aws_path,
    figures_http,
    figures_postgres,
    figures_revocation,
    figures_storage,
    figures_workers,
)
from bench.context import Run  # noqa: E402
from bench.procs import detect_cores  # noqa: E402
from bench.profile import FULL, SMOKE  # noqa: E402
from bench.report import Row, chart, console_table, machine_line, markdown, not_measured  # noqa: E402

HTTP_TARGETS = {
    figures_http.LOGIN: f"≥ {figures_http.LOGIN_LIMIT:.2f}",
    figures_http.SIGNIN: f"≥ {figures_http.SIGNIN_LIMIT:.2f}",
    figures_http.HELLO: f"≥ {figures_http.HELLO_LIMIT:.2f}",
    figures_http.RSS: f"≤ {figures_http.RSS_LIMIT_MIB:g} MiB",
}


def _guarded(figure: str, target: str, measure: Callable[[], Row]) -> Row:
    try:
        return measure()
    except Exception as exc:  # one broken figure must not hide the others
        traceback.print_exc(file=sys.stderr)
        return not_measured(figure, target, f"error: {type(exc).__name__}: {str(exc)[:160]}")


def _http_rows(run: Run) -> list[Row]:
    try:
        return figures_http.rows(run, figures_http.measure(run))
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        reason = f"error: {type(exc).__name__}: {str(exc)[:160]}"
        return [not_measured(name, target, reason) for name, target in HTTP_TARGETS.items()]


def collect(run: Run) -> list[Row]:
    """Every figure in table order; the storage figure first, as it mints the run's token and key."""
    run.make_key_file()
    storage = _guarded(
        figures_storage.FIGURE_SQLITE, figures_storage.TARGET, lambda: figures_storage.sqlite_row(run)
    )
    dynamo = _guarded(
        figures_storage.FIGURE_DYNAMODB, figures_storage.TARGET, lambda: figures_storage.dynamodb_row(run)
    )
    http = (
        _http_rows(run)
        if run.token
        else [
            not_measured(name, target, "no token: the in-process sign-in failed")
            for name, target in HTTP_TARGETS.items()
        ]
    )
    # The single-process figures after the HTTP figures (whose server makes the database the authorizer
    # reads) and before PostgreSQL starts: it stays up for later figures and likely keeps working in the
    # background after a loaded one (checkpoints, vacuum), which a cold start on this machine would time.
    cold = _guarded(figures_aws.COLD, figures_aws.COLD_TARGET, lambda: figures_aws.cold_start_row(run))
    aws_cold = _guarded(figures_aws_path.FIGURE, figures_aws.COLD_TARGET, lambda: figures_aws_path.row(run))
    warm = _guarded(figures_aws.WARM, f"≥ {figures_aws.WARM_LIMIT}", lambda: figures_aws.warm_row(run))
    imports = _guarded(figures_aws.IMPORT, "≤ 1.3", lambda: figures_aws.import_row(run))
    postgres = _guarded(
        figures_postgres.FIGURE_POSTGRES, figures_storage.TARGET, lambda: figures_postgres.postgres_row(run)
    )
    workers = [
        _guarded(
            figures_workers.figure(backend, n),
            figures_workers.target(n),
            lambda b=backend, n=n: figures_workers.row(run, b, n),
        )
        for backend, n in figures_workers.CONFIGS
    ]
    revocation = _guarded(
        figures_revocation.FIGURE, figures_revocation.TARGET, lambda: figures_revocation.row(run)
    )
    lambdas = [cold, aws_cold, warm, imports]
    return [*http[:3], revocation, *workers, *lambdas, http[3], storage, dynamo, postgres]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="seconds-long run that only shows it works")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="where results go")
    args = parser.parse_args(argv)
    # A stopped run still stops its servers: SIGTERM unwinds through their `finally` blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    profile = SMOKE if args.smoke else FULL
    cores = detect_cores()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="twostep-bench-") as scratch:
        run = Run(profile, cores, Path(scratch))
        with run.stack:
            rows = collect(run)
    elapsed = time.monotonic() - started
    context = [
        f"Profile: {profile.name}; {profile.clients} concurrent clients, {profile.load_seconds:g} s per "
        f"HTTP figure after {profile.warmup_seconds:g} s warm-up; whole run {elapsed:.0f} s.",
        f"Cores: {cores.describe()}.",
        "Every ratio is against a baseline measured in the same run; loopback only.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(markdown(rows, context))
    chart(rows, args.out / "latest.png", f"twostep bench ({profile.name}) — {machine_line()}")
    print(console_table(rows))
    print("\n".join(context))
    print(f"wrote {args.out / 'latest.md'} and {args.out / 'latest.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
