"""What the session-revocation check adds to a protected request, measured in-process.

A protected request verifies its access token (an RS256 verify), then looks its `sid` up in the
in-memory list of ended sessions; every `TWOSTEP_REVOCATION_REFRESH_SECONDS` one request reads what
storage added since. Measured here: that check (`TokenService.check_session`, refreshes from SQLite
included as they fall due) against the RS256 `TokenVerifier.verify` every request does anyway, in
alternating rounds, with 1000 sessions ended within the list's window (a busy service's quarter
hour); and one full read of that list. The HTTP `/hello` figure includes the check as served.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

from bench.context import Run
from bench.figures_storage import _settings
from bench.report import Row

FIGURE = "revocation check per protected request (in-process)"
TARGET = "≤ 0.05 of a token verify"
LIMIT = 0.05
ENDED_SESSIONS = 1000
ROUNDS = 5


def _end_sessions(container: Any, count: int) -> None:
    """`count` sessions, each with one refresh token, ended now (they fill the revocation window)."""
    from twostep.domain.models import RefreshToken, Session

    now = container.clock.now()
    for _ in range(count):
        sid = str(uuid.uuid4())
        session = Session(sid, "bench-user", now, now + timedelta(hours=1), now, ("pwd", "sms"), now)
        token = RefreshToken(uuid.uuid4().hex, sid, "bench-user", now, session.expires_at, session.expires_at)
        container.storage.add_session(session, token)
        container.storage.revoke_family(sid, now)


def _per_call(action: Any, argument: Any, seconds: float) -> float:
    """Seconds per call of `action(argument)`, over about `seconds`."""
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(50):
            action(argument)
        calls += 50
    return elapsed / calls


def measure(run: Run) -> dict[str, float]:
    from twostep.container import build

    container = build(_settings(run, sqlite_path=run.workdir / "revocation.db"))
    try:
        _end_sessions(container, ENDED_SESSIONS if run.profile.name == "full" else 100)
        tokens = container.tokens
        token = container.keys.issuer().issue(
            user_id="bench-user",
            email="bench@example.com",
            amr=("pwd", "sms"),
            sid="bench-session",
            auth_time=int(container.clock.now().timestamp()),
        )
        claims = tokens.authenticate(token)  # the first read of the list, outside the timing
        seconds = max(run.profile.micro_seconds, 0.2)
        verify, checked = [], []
        for _ in range(ROUNDS):
            verify.append(_per_call(container.keys.verifier().verify, token, seconds))
            checked.append(_per_call(tokens.check_session, claims, seconds))
        since = container.clock.now() - timedelta(hours=1)
        reads = []
        for _ in range(20):
            started = time.perf_counter()
            listed = container.storage.list_revocations(since)
            reads.append(time.perf_counter() - started)
        return {
            "verify_us": statistics.median(verify) * 1e6,
            "checked_us": statistics.median(checked) * 1e6,
            "read_ms": statistics.median(reads) * 1e3,
            "listed": float(len(listed)),
            "refresh_seconds": container.settings.revocation_refresh_seconds,
            "storage_reads": float(tokens.revocations.reads),
        }
    finally:
        container.close()


def row(run: Run) -> Row:
    got = measure(run)
    return Row(
        FIGURE,
        f"+{got['checked_us']:.2f} µs per request",
        f"token verify {got['verify_us']:.1f} µs",
        got["checked_us"] / got["verify_us"],
        TARGET,
        False,
        LIMIT,
        note=(
            f"{got['listed']:.0f} ended sessions listed; one full SQLite read of the list "
            f"{got['read_ms']:.2f} ms, done by one request every {got['refresh_seconds']:g} s "
            f"({got['storage_reads']:.0f} reads during the run)"
        ),
    )
