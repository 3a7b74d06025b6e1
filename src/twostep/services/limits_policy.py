"""The numbers behind every limit (from `TWOSTEP_*` settings), and the unit an IP limit counts."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from twostep.domain.addresses import unmapped
from twostep.domain.numbers import DEFAULT_ALLOWED_TYPES


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    resend_cooldown_seconds: int = 30
    sms_per_number_10min: int = 5
    sms_per_number_day: int = 10
    sms_hourly_budget: int = 1000
    sms_allowed_countries: tuple[str, ...] = ()
    sms_allowed_number_types: tuple[str, ...] = DEFAULT_ALLOWED_TYPES
    ip_sms_per_hour: int = 10
    account_sms_per_day: int = 10
    login_free_failures: int = 5
    login_max_delay_seconds: int = 900
    login_account_free_failures: int = 100
    ip_login_per_minute: int = 60
    ip_register_per_hour: int = 30
    ip_verify_create_per_hour: int = 60
    otp_account_failure_limit: int = 100
    reset_code_failures_per_day: int = 10
    reset_code_failures_per_client_day: int = 5
    reset_requests_per_day: int = 3
    reset_requests_per_client_day: int = 2


@functools.lru_cache(maxsize=4096)  # parsed several times per sign-in (each per-IP counter and the audit)
def ip_bucket(ip: str) -> str:
    """The unit an IP limit counts: the address, or its /64 for IPv6 (one subscriber's usual share)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    address = unmapped(address)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
