"""SMS pumping simulation: attackers and real users against the same service, fraud guard off and on.

`python -m bench.pumping [--hours 3] [--out DIR]` runs both in one go and prints (and writes) a table.

The service is the real one (container, services, limits, memory storage) on a simulated clock that moves
a minute per step; only the SMS provider is a recorder and password hashing is cheap, so hours of traffic
take seconds. Each minute:
- attacker IPs, each with one strategy: premium-rate numbers (+1 900, +44 909), random mobile numbers
  in many countries, or numbers of one number block; each registers an account whenever its IP may
  (then logs in: one SMS), resends every live code as often as the service allows, and asks the
  verification API for codes to fresh numbers without an API key. Attackers never type a code;
- real users (each on their own IP, a mobile number in a common country) sign in a few times over the
  run and type 90 % of their codes;
- one real server-to-server tenant texts its customers through the verification API with its key;
  customers type 90 % of the codes.

"Guard off" is twostep before issue 12: no per-IP or per-account SMS cap, every number type, no prefix
guard, no money budget, and the verification API open in dev. "Guard on" is today's defaults with a real
provider configured. Both keep the per-number caps, the cooldown and the hourly message budget (1000).

Reported: SMS delivered to attacker numbers (by strategy), and the success rate of real sign-ins and
tenant verifications: of the attempts where the person types the code, the share that ended verified.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType

from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import ApiKeyRequired, TwoStepError
from twostep.domain.models import RequestContext
from twostep.domain.numbers import NUMBER_TYPES
from twostep.domain.passwords import PasswordHasher
from twostep.services.login import LoginStarted
from twostep.services.registration import Registration
from twostep.settings import Settings
from twostep.storage.memory import MemoryStorage

PASSWORD = "correct horse battery staple"
TENANT_KEY = "shop-simulation-key-0123456789"
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
LEGIT_REGIONS = ("DE", "GB", "US", "FR", "TR", "ES", "IT", "NL")
ATTACK_REGIONS = ("ID", "NG", "PH", "VN", "RU", "BR", "IN", "PK", "EG", "KE", "UZ", "BD")
ONE_BLOCK = "+44740012"  # + four digits: every number shares this prefix (the last four dropped)
STRATEGIES = ("premium", "random", "one_prefix")


@dataclass(frozen=True)
class Scenario:
    hours: int = 3
    legit_users: int = 300
    signins_per_user: int = 2
    attacker_ips_per_strategy: int = 3
    tenant_per_minute: int = 2
    type_rate: float = 0.9
    seed: int = 12


@dataclass
class Outcome:
    guard: bool
    attacker_sms: Counter[str] = field(default_factory=Counter)
    legit_typed: int = 0
    legit_ok: int = 0
    tenant_typed: int = 0
    tenant_ok: int = 0
    sms_total: int = 0
    refusals: Counter[str] = field(default_factory=Counter)

    @property
    def attacker_total(self) -> int:
        return sum(self.attacker_sms.values())

    @property
    def legit_rate(self) -> float:
        return self.legit_ok / self.legit_typed if self.legit_typed else 1.0

    @property
    def tenant_rate(self) -> float:
        return self.tenant_ok / self.tenant_typed if self.tenant_typed else 1.0


class RecordingSender:
    """The provider: keeps the last text per number and counts every text."""

    name = "recording"

    def __init__(self) -> None:
        self.last: dict[str, str] = {}
        self.counts: Counter[str] = Counter()

    def send(self, to: str, body: str) -> str:
        self.last[to] = body
        self.counts[to] += 1
        return "sim"

    def code_for(self, to: str) -> str:
        match = re.match(r"\d+", self.last[to])
        assert match is not None
        return match.group(0)


def settings_for(guard: bool, workdir: Path) -> Settings:
    common: dict[str, Any] = {
        "stage": "dev",
        "storage": "memory",
        "jwt_key_file": workdir / "keys.json",
    }
    if guard:  # today's defaults, with a real provider configured (its credentials never used)
        values = {
            "sms_providers": ["twilio"],
            "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
            "twilio_auth_token": "unused",
            "twilio_from": "+15005550006",
            "verify_api_keys": [f"shop:{TENANT_KEY}"],
        }
    else:  # before issue 12
        values = {
            "sms_providers": ["console"],
            "ip_sms_per_hour": 10**9,
            "account_sms_per_day": 10**9,
            "fraud_guard": False,
            "sms_allowed_number_types": list(NUMBER_TYPES),
            "sms_budget_hourly_usd": None,
            "sms_budget_daily_usd": None,
        }
    return Settings(_env_file=None, **common, **values)  # type: ignore[call-arg]


# US and Canadian numbers do not tell mobile from fixed line: they count as mobile here too.
_ALSO: dict[int, tuple[int, ...]] = {
    PhoneNumberType.MOBILE: (PhoneNumberType.FIXED_LINE_OR_MOBILE,),
    PhoneNumberType.PREMIUM_RATE: (),
}


def random_number(rng: random.Random, region: str, kind: int = PhoneNumberType.MOBILE) -> str:
    """A valid number of `kind` in `region`: the example number with its last seven digits drawn at random
    (people's numbers spread over many number blocks)."""
    example = phonenumbers.example_number_for_type(region, kind)
    digits = str(example.national_number)
    for _ in range(200):
        national = digits[:-7] + f"{rng.randrange(10_000_000):07d}"
        number = phonenumbers.parse(f"+{example.country_code}{national}", None)
        found = phonenumbers.number_type(number)
        if phonenumbers.is_valid_number(number) and (found == kind or found in _ALSO[kind]):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def attacker_number(rng: random.Random, strategy: str) -> str:
    if strategy == "premium":
        region = rng.choice(("US", "GB"))
        return random_number(rng, region, PhoneNumberType.PREMIUM_RATE)
    if strategy == "random":
        return random_number(rng, rng.choice(ATTACK_REGIONS))
    return f"{ONE_BLOCK}{rng.randrange(10_000):04d}"


@dataclass
class Attacker:
    ip: str
    strategy: str
    accounts: int = 0
    live: list[str] = field(default_factory=list)  # otp ids to resend


class Simulation:
    def __init__(self, guard: bool, scenario: Scenario, workdir: Path) -> None:
        # Two streams: people act the same whatever the attackers (and the guard) do.
        self.scenario, self.rng = scenario, random.Random(scenario.seed)
        self.attack_rng = random.Random(scenario.seed + 1)
        self.clock = FixedClock(START)
        self.sender = RecordingSender()
        self.container: Container = build(
            settings_for(guard, workdir),
            clock=self.clock,
            storage=MemoryStorage(),
            sender=self.sender,
            passwords=PasswordHasher(memory_kib=64, time_cost=1),
        )
        self.tenant = self.container.tenants.find(TENANT_KEY) if guard else None
        self.outcome = Outcome(guard)
        self.attacker_numbers: dict[str, str] = {}  # number -> strategy
        self.attackers = [
            Attacker(f"203.0.{s}.{i + 1}", strategy)
            for s, strategy in enumerate(STRATEGIES)
            for i in range(scenario.attacker_ips_per_strategy)
        ]

    # --- one person or attacker action; a refusal is counted, never raised ---
    def _try(self, action: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except TwoStepError as refused:
            self.outcome.refusals[str(getattr(refused, "limit", None) or refused.code)] += 1
            return None

    def run(self) -> Outcome:
        users = self._sign_up_users()
        minutes = self.scenario.hours * 60
        plan = self._signin_plan(len(users), minutes)
        for minute in range(minutes):
            for attacker in self.attackers:
                self._attack(attacker)
            for user in plan.get(minute, []):
                self._sign_in(*users[user])
            for _ in range(self.scenario.tenant_per_minute):
                self._tenant_verification()
            self.clock.advance(60)
        self._count_sms()
        self.container.close()
        return self.outcome

    def _sign_up_users(self) -> list[tuple[str, str]]:
        users = []
        for i in range(self.scenario.legit_users):
            email, ip = f"user{i}@example.com", f"10.{i // 250}.{i % 250}.1"
            phone = random_number(self.rng, self.rng.choice(LEGIT_REGIONS))
            form = Registration(email=email, password=PASSWORD, first_name="A", last_name="B", phone=phone)
            if self._try(self.container.registration.register, form, RequestContext(ip=ip)) is not None:
                users.append((email, ip))
        return users

    def _signin_plan(self, users: int, minutes: int) -> dict[int, list[int]]:
        plan: dict[int, list[int]] = {}
        for user in range(users):  # a person's sign-ins are minutes apart, not a resend
            for minute in self.rng.sample(range(minutes), min(minutes, self.scenario.signins_per_user)):
                plan.setdefault(minute, []).append(user)
        return plan

    def _sign_in(self, email: str, ip: str) -> None:
        ctx = RequestContext(ip=ip)
        types = self.rng.random() < self.scenario.type_rate
        self.outcome.legit_typed += types
        started = self._try(self.container.login.start, email, PASSWORD, ctx)
        if not isinstance(started, LoginStarted) or not types:
            return
        phone = self.container.storage.get_challenge(started.otp_id)
        assert phone is not None
        code = self.sender.code_for(phone.phone)
        if self._try(self.container.login.complete, started.otp_id, code, ctx) is not None:
            self.outcome.legit_ok += 1

    def _tenant_verification(self) -> None:
        ctx = RequestContext(ip="198.51.100.10", tenant=self.tenant)
        phone = random_number(self.rng, self.rng.choice(LEGIT_REGIONS))
        auth_id = f"order-{self.rng.randrange(10**9)}"
        types = self.rng.random() < self.scenario.type_rate
        self.outcome.tenant_typed += types
        if self._try(self.container.verification.create, auth_id, phone, ctx=ctx) is None or not types:
            return
        if (
            self._try(self.container.verification.check, auth_id, self.sender.code_for(phone), ctx)
            is not None
        ):
            self.outcome.tenant_ok += 1

    def _attack(self, attacker: Attacker) -> None:
        ctx = RequestContext(ip=attacker.ip)
        self._attacker_account(attacker, ctx)
        for otp_id in list(attacker.live):
            self._try(self.container.login.resend, otp_id, ctx)
        for _ in range(2):  # the verification API, without a key
            number = self._new_attacker_number(attacker.strategy)
            self._try(self._keyless_create, number, ctx)

    def _keyless_create(self, number: str, ctx: RequestContext) -> object:
        auth_id = f"a-{self.attack_rng.randrange(10**9)}"
        if self.tenant is not None:  # guard on: a real provider is configured, so a key is required
            raise ApiKeyRequired()
        return self.container.verification.create(auth_id, number, ctx=ctx)

    def _attacker_account(self, attacker: Attacker, ctx: RequestContext) -> None:
        number = self._new_attacker_number(attacker.strategy)
        email = f"{attacker.ip}-{attacker.accounts}@attacker.example"
        form = Registration(email=email, password=PASSWORD, first_name="X", last_name="Y", phone=number)
        if self._try(self.container.registration.register, form, ctx) is None:
            return
        attacker.accounts += 1
        started = self._try(self.container.login.start, email, PASSWORD, ctx)
        if isinstance(started, LoginStarted):
            attacker.live.append(started.otp_id)
            # A code lives two minutes: only the newest few can still be resent.
            attacker.live[:] = attacker.live[-3:]

    def _new_attacker_number(self, strategy: str) -> str:
        number = attacker_number(self.attack_rng, strategy)
        self.attacker_numbers[number] = strategy
        return number

    def _count_sms(self) -> None:
        for number, count in self.sender.counts.items():
            self.outcome.sms_total += count
            strategy = self.attacker_numbers.get(number)
            if strategy is not None:
                self.outcome.attacker_sms[strategy] += count


def compare(scenario: Scenario, workdir: Path) -> tuple[Outcome, Outcome]:
    """Guard off, then guard on, with the same seed (the same people and attackers)."""
    return Simulation(False, scenario, workdir).run(), Simulation(True, scenario, workdir).run()


def reduction(off: Outcome, on: Outcome) -> float:
    """The share of attacker SMS the guard stopped."""
    return 1 - on.attacker_total / off.attacker_total if off.attacker_total else 0.0


def table(scenario: Scenario, off: Outcome, on: Outcome) -> str:
    lines = [
        f"SMS pumping simulation: {scenario.hours} h, {scenario.legit_users} users x "
        f"{scenario.signins_per_user} sign-ins, {scenario.attacker_ips_per_strategy} attacker IPs per strategy "
        f"({', '.join(STRATEGIES)}), a tenant at {scenario.tenant_per_minute}/min, seed {scenario.seed}",
        "",
        "| guard | attacker SMS | premium | random | one prefix | all SMS | real sign-ins ok | tenant ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for outcome in (off, on):
        s = outcome.attacker_sms
        lines.append(
            f"| {'on' if outcome.guard else 'off'} | {outcome.attacker_total} | {s['premium']} | {s['random']} "
            f"| {s['one_prefix']} | {outcome.sms_total} | {outcome.legit_rate:.1%} "
            f"({outcome.legit_ok}/{outcome.legit_typed}) | {outcome.tenant_rate:.1%} "
            f"({outcome.tenant_ok}/{outcome.tenant_typed}) |"
        )
    lines += ["", f"Attacker SMS cut by the guard: {reduction(off, on):.1%}", ""]
    for outcome in (off, on):
        top = ", ".join(f"{name} {count}" for name, count in outcome.refusals.most_common(8))
        lines.append(f"- refusals with the guard {'on' if outcome.guard else 'off'}: {top or 'none'}")
    return "\n".join(lines) + "\n"


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pumping", description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=int, default=Scenario.hours)
    parser.add_argument("--users", type=int, default=Scenario.legit_users)
    parser.add_argument("--attacker-ips", type=int, default=Scenario.attacker_ips_per_strategy)
    parser.add_argument("--seed", type=int, default=Scenario.seed)
    parser.add_argument("--out", type=Path, default=None, help="Also write pumping.md here.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import logging
    import tempfile

    logging.getLogger("twostep").setLevel(logging.CRITICAL)  # thousands of refusals are expected here
    args = _arguments(sys.argv[1:] if argv is None else argv)
    scenario = Scenario(
        hours=args.hours, legit_users=args.users, attacker_ips_per_strategy=args.attacker_ips, seed=args.seed
    )
    with tempfile.TemporaryDirectory() as workdir:
        off, on = compare(scenario, Path(workdir))
    report = table(scenario, off, on)
    print(report)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "pumping.md").write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
