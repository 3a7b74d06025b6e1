"""What every figure of one run shares: the profile, the cores, a scratch folder and one signing key.

The key: signing keys live in each database (sealed with its master key), and every figure has its own
database. So the run writes one key file first (`Run.make_key_file`), the way a deployment that
started from a key file has it: every database moves that file's keys in on its first start, and the
authorizer reads the file outside AWS. A token minted by any figure then verifies on every server.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import Cores, child_env
from bench.profile import Profile

ISSUER = "https://bench.twostep.invalid"
AUDIENCE = "twostep-api"
PASSWORD = "bench-correct-horse-battery"


@dataclass
class Run:
    profile: Profile
    cores: Cores
    workdir: Path
    token: str = ""  # an RS256 access token (1 h) signed with the key in `key_file`
    key_pem: Path = field(init=False)
    key_file: Path = field(init=False)
    stack: ExitStack = field(default_factory=ExitStack)  # servers shared by figures, stopped at the end
    postgres: Any = None  # the run's PostgreSQL server (bench/postgres.py), started on first use

    def __post_init__(self) -> None:
        self.key_file = self.workdir / "keys.json"
        self.key_pem = self.workdir / "public.pem"

    def make_key_file(self) -> None:
        """The run's one key set (RS256), before any database is created; see the module docstring."""
        from twostep.domain.clock import SystemClock
        from twostep.secrets.local import LocalKeyFile

        LocalKeyFile(self.key_file, "RS256", 2048).load(SystemClock())

    def twostep_env(self, **extra: str) -> dict[str, str]:
        """A child's environment: twostep settings pointing into the scratch folder, limits out of the way.

        The bench measures throughput, not the limits: every per-IP, per-account, per-number and
        service-wide cap the load reaches is raised (one address signs 64 accounts in over and over).
        The fraud guard stays on, with a judging threshold the load never reaches: its block read and
        send count stay on the measured path, but codes of the login-only figure (never used) cannot
        get the bench prefix blocked.
        """
        settings = {
            "TWOSTEP_STAGE": "dev",
            "TWOSTEP_STORAGE": "sqlite",
            "TWOSTEP_SQLITE_PATH": str(self.workdir / "twostep.db"),
            "TWOSTEP_JWT_KEY_FILE": str(self.key_file),
            "TWOSTEP_JWT_ALGORITHM": "RS256",
            "TWOSTEP_ISSUER": ISSUER,
            "TWOSTEP_AUDIENCE": AUDIENCE,
            "TWOSTEP_ACCESS_TOKEN_TTL_SECONDS": "3600",
            "TWOSTEP_SMS_PROVIDERS": "console",
            "TWOSTEP_RESEND_COOLDOWN_SECONDS": "0",
            "TWOSTEP_SMS_PER_NUMBER_10MIN": "1000",
            "TWOSTEP_SMS_PER_NUMBER_DAY": "10000",
            "TWOSTEP_SMS_HOURLY_BUDGET": "1000000000",
            "TWOSTEP_IP_LOGIN_PER_MINUTE": "1000000000",
            "TWOSTEP_IP_REGISTER_PER_HOUR": "1000000000",
            "TWOSTEP_IP_SMS_PER_HOUR": "1000000000",
            "TWOSTEP_ACCOUNT_SMS_PER_DAY": "1000000000",
            "TWOSTEP_SMS_BUDGET_HOURLY_USD": "1000000000",
            "TWOSTEP_SMS_BUDGET_DAILY_USD": "1000000000",
            "TWOSTEP_FRAUD_MIN_SENDS": "1000000000",
        }
        settings.update(extra)
        return child_env(settings)
