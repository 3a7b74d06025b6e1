"""The pumping simulation (bench/pumping.py), small: the guard cuts SMS to attacker numbers by at least
90 % while real sign-ins and a real tenant's verifications still succeed at least 99 % of the time.

Rates of one deterministic run (same seed, same people, same attackers, guard off then on); no time is
asserted.
"""

from __future__ import annotations

from pathlib import Path

from bench.pumping import Scenario, compare, reduction, table


def test_the_guard_stops_pumping_and_keeps_real_sign_ins(tmp_path: Path) -> None:
    scenario = Scenario(hours=1, legit_users=120, signins_per_user=2, attacker_ips_per_strategy=3)
    off, on = compare(scenario, tmp_path)
    report = table(scenario, off, on)

    assert off.attacker_total > 500, report  # without the guard the attack works
    assert off.legit_rate < 0.9, report  # ... and spends the budget real users needed
    assert reduction(off, on) >= 0.9, report
    assert on.attacker_sms["premium"] == 0, report
    assert on.legit_rate >= 0.99, report
    assert on.tenant_rate >= 0.99, report
    assert on.legit_typed == off.legit_typed  # the same people tried the same sign-ins
