"""Storage adapters, chosen by `TWOSTEP_STORAGE`; each is imported only when chosen.

Adding a backend is one module and one line here, plus one fixture in tests/contract/conftest.py.
"""

from __future__ import annotations

import importlib

from twostep.domain.cold_start_typing import TYPE_CHECKING
from twostep.domain.errors import ConfigurationError

if TYPE_CHECKING:  # not at run time: the authorizer's revocation readers live in this package
    from typing import Any

    from twostep.domain.ports import Storage
    from twostep.settings import Settings

REGISTRY: dict[str, str] = {
    "memory": "twostep.storage.memory:MemoryStorage",
    "sqlite": "twostep.storage.sqlite:SqliteStorage",
    "dynamodb": "twostep.storage.dynamodb:DynamoDbStorage",
    "postgres": "twostep.storage.postgres:PostgresStorage",
}


def load_class(dotted: str) -> Any:
    module_name, _, attribute = dotted.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def build_storage(settings: Settings, *, boto_session: Any = None) -> Storage:
    """The configured storage, ready for `init_schema`.

    Raises:
        ConfigurationError: the backend's driver is not installed, or TWOSTEP_SQLITE_PATH names no place
            a database can be kept.
    """
    try:
        cls = load_class(REGISTRY[settings.storage])
    except ImportError as exc:
        package = exc.name or "a driver"
        hint = "'twostep[aws]'" if package.startswith("boto") else package
        raise ConfigurationError(
            f"TWOSTEP_STORAGE={settings.storage} needs {package}, which is not installed: pip install {hint}"
        ) from None
    if settings.storage == "sqlite":
        from twostep.storage.sqlite_path import check_sqlite_path

        check_sqlite_path(settings.sqlite_path)
        storage: Storage = cls(settings.sqlite_path, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    elif settings.storage == "dynamodb":
        storage = cls.from_settings(settings, boto_session=boto_session)
    elif settings.storage == "postgres":
        storage = cls.from_settings(settings)
    else:
        storage = cls()
    return storage
