"""Who calls the verification API: API keys, each owned by a named tenant with its own settings.

Keys are compared as SHA-256 digests in constant time against every configured key (no early exit), so
neither the answer's timing nor its content says how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from twostep.domain.errors import ConfigurationError
from twostep.domain.models import Tenant

DEFAULT_TENANT = "default"


def parse_key_entries(entries: Iterable[str]) -> list[tuple[str, str]]:
    """`tenant:key` entries (a bare key belongs to `default`) as (tenant, key); blanks and `#` lines skipped.

    Raises:
        ConfigurationError: an entry with an empty key.
    """
    pairs = []
    for raw in entries:
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        tenant, _, key = entry.partition(":") if ":" in entry else (DEFAULT_TENANT, "", entry)
        if not key.strip() or not tenant.strip():
            raise ConfigurationError("an API key entry is `tenant:key` with neither part empty")
        pairs.append((tenant.strip(), key.strip()))
    return pairs


class TenantDirectory:
    """The configured tenants and their keys; `find` names the tenant of a presented key."""

    def __init__(self, tenants: Mapping[str, Tenant], keys: Iterable[tuple[str, str]]) -> None:
        self._tenants = dict(tenants)
        self._digests = [(hashlib.sha256(key.encode()).digest(), name) for name, key in keys]
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
