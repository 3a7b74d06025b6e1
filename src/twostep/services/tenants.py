"""Who calls the verification API: API keys, each owned by a named tenant with its own settings.

Keys are compared as SHA-256 digests in constant time against every configured key (no early exit), so
neither the answer's timing nor its content says how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from twostep.domain.errors import ConfigurationError
from twostep.domain.models import TENANT_NAME, Tenant

DEFAULT_TENANT = "default"


def parse_key_entries(entries: Iterable[str]) -> list[tuple[str, str]]:
    """`tenant:key` entries (a bare key belongs to `default`) as (tenant, key); blanks and `#` lines skipped.

    Raises:
        ConfigurationError: an entry with an empty key, or a tenant name that is not letters, digits, `-`
            and `_` (as `TWOSTEP_VERIFY_API_KEYS` requires); the message names the entry's place, never
            its text, which holds a key.
    """
    pairs = []
    for place, raw in enumerate(entries, start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        tenant, _, key = entry.partition(":") if ":" in entry else (DEFAULT_TENANT, "", entry)
        tenant, key = tenant.strip(), key.strip()
        if not key or not TENANT_NAME.fullmatch(tenant):
            raise ConfigurationError(
                f"API key entry {place}: each is `tenant:key` (tenant: 1 to 40 letters, digits, - and _) "
                "or a bare key"
            )
        pairs.append((tenant, key))
    return pairs


def _one_tenant_per_key(digests: list[tuple[bytes, str]]) -> None:
    """Raises: ConfigurationError when one key is listed for two tenants: it would act as whichever came
    last, with that tenant's `auth_id`s, caps and texts, whatever the other tenant's caller meant."""
    owners: dict[bytes, str] = {}
    for digest, name in digests:
        other = owners.setdefault(digest, name)
        if other != name:
            raise ConfigurationError(
                f"one API key is listed for two tenants ({other} and {name}); give each tenant its own key"
            )


class TenantDirectory:
    """The configured tenants and their keys; `find` names the tenant of a presented key."""

    def __init__(self, tenants: Mapping[str, Tenant], keys: Iterable[tuple[str, str]]) -> None:
        """Raises: ConfigurationError (see `_one_tenant_per_key`)."""
        self._tenants = dict(tenants)
        self._digests = [(hashlib.sha256(key.encode()).digest(), name) for name, key in keys]
        _one_tenant_per_key(self._digests)
        for _, name in self._digests:
            self._tenants.setdefault(name, Tenant(name))

    @property
    def has_keys(self) -> bool:
        return bool(self._digests)

    def tenant(self, name: str) -> Tenant | None:
        return self._tenants.get(name)

    def find(self, presented: str) -> Tenant | None:
        """The tenant owning `presented`, or None; every key is compared, whichever matches."""
        digest = hashlib.sha256(presented.encode()).digest()
        found: str | None = None
        for candidate, name in self._digests:
            if hmac.compare_digest(candidate, digest):
                found = name
        return None if found is None else self._tenants[found]
