"""Blocked phone-number prefixes in memory; every method holds the storage's one lock."""

from __future__ import annotations

import threading
from datetime import datetime

from twostep.domain.ports import PrefixBlock


class MemoryPrefixBlocks:
    _lock: threading.RLock

    def _init_blocks(self) -> None:
        self._blocks: dict[str, PrefixBlock] = {}

    def add_prefix_block(self, block: PrefixBlock) -> bool:
        with self._lock:
            current = self._blocks.get(block.prefix)
            if current is not None and current.until > block.blocked_at:
                return False
            self._blocks[block.prefix] = block
            return True

    def get_prefix_block(self, prefix: str, now: datetime) -> PrefixBlock | None:
        block = self._blocks.get(prefix)
        return block if block is not None and block.until > now else None

    def list_prefix_blocks(self, now: datetime) -> list[PrefixBlock]:
        with self._lock:
            return sorted((b for b in self._blocks.values() if b.until > now), key=lambda b: b.prefix)

    def delete_prefix_block(self, prefix: str) -> bool:
        with self._lock:
            return self._blocks.pop(prefix, None) is not None
