"""A cold start reads the revocation list on a thread while it reads the keys, and never leaves that read
running once it has answered (Lambda freezes the container between events)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.aws.events import token_event
from tests.aws.test_authorizer_keys import allows, issue
from twostep.aws import authorizer
from twostep.aws.lazy import BuiltOnce
from twostep.domain.clock import SystemClock
from twostep.domain.errors import StorageUnavailable
from twostep.domain.keys import KeyMaterial
from twostep.domain.revocation import Revocation, RevocationList

pytestmark = pytest.mark.aws
WAIT_SECONDS = 10.0  # a bound on a hang, never reached when the reads overlap


class GatedSource:
    """A revocation list in storage that records which threads read it and can be made to fail."""

    def __init__(self) -> None:
        self.read = threading.Event()
        self.readers: list[int] = []
        self.failing = False

    def list_revocations(self, since: datetime) -> list[Revocation]:
        self.readers.append(threading.get_ident())
        self.read.set()
        if self.failing:
            raise StorageUnavailable("the table cannot be read")
        return [Revocation("ended", datetime.now(UTC))]


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[GatedSource]:
    """An RS256 key file whose verifier is built only once the list has been read (so a build that does
    not overlap the list's read waits out WAIT_SECONDS and fails), and the list over `GatedSource`."""
    keys = tmp_path / "keys.json"
    keys.write_text(KeyMaterial.generate("RS256", datetime.now(UTC)).to_json())
    monkeypatch.setenv("TWOSTEP_JWT_KEY_FILE", str(keys))
    monkeypatch.setenv("TWOSTEP_ISSUER", "https://issuer.example")  # the one `issue` signs for
    monkeypatch.setenv("TWOSTEP_STORAGE", "memory")
    authorizer.reset()
    gated = GatedSource()

    def keys_after_the_list() -> authorizer.AccessTokenVerifier:
        if not gated.read.wait(WAIT_SECONDS):
            raise TimeoutError("the keys were read before the list, not beside it")
        return authorizer._build_verifier()

    def checks() -> authorizer.SessionChecks:
        ttl = timedelta(seconds=int(os.environ.get("TWOSTEP_AUTHORIZER_REVOCATION_TTL_SECONDS", "30")))
        listed = RevocationList(
            gated, SystemClock(), refresh_every=ttl, max_age=ttl, window=timedelta(hours=1)
        )
        return authorizer.SessionChecks(listed, require_second_factor=True)

    monkeypatch.setattr(authorizer, "_verifier", BuiltOnce(keys_after_the_list))
    monkeypatch.setattr(authorizer, "_session_checks", BuiltOnce(checks))
    yield gated
    authorizer.reset()


def test_a_cold_start_reads_the_list_beside_the_keys(source: GatedSource) -> None:
    material = KeyMaterial.from_json(Path(authorizer._settings.get().jwt_key_file).read_text())
    before = threading.active_count()
    assert allows(issue(material))
    assert source.readers and source.readers[0] != threading.get_ident()
    assert threading.active_count() == before  # the read has ended before the answer
    assert allows(issue(material))  # warm: the list and the keys are fresh, nothing is read
    assert len(source.readers) == 1


def test_a_failed_read_ahead_is_read_again_and_fails_closed(source: GatedSource) -> None:
    material = KeyMaterial.from_json(Path(authorizer._settings.get().jwt_key_file).read_text())
    source.failing = True
    with pytest.raises(authorizer.AuthorizerUnavailable):
        authorizer.handler(token_event(f"Bearer {issue(material)}"), None)
    assert len(source.readers) == 2  # the thread's read, then the check's own
    source.failing = False
    assert allows(issue(material))


def test_a_token_refused_early_still_waits_for_the_read(source: GatedSource) -> None:
    before = threading.active_count()
    assert not allows("not.a.token")
    assert threading.active_count() == before
    assert len(source.readers) == 1


def test_keys_that_cannot_be_read_still_wait_for_the_read(source: GatedSource) -> None:
    Path(authorizer._settings.get().jwt_key_file).write_text("not json")
    before = threading.active_count()
    with pytest.raises(authorizer.AuthorizerUnavailable):
        authorizer.handler(token_event("Bearer a.b.c"), None)
    assert threading.active_count() == before
    assert len(source.readers) == 1


def test_a_zero_ttl_reads_the_list_once_per_check_and_not_ahead(
    source: GatedSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a zero TTL every check reads the list itself: a read ahead would double the cold start's reads.
    (The keys are built here without waiting for the list's read.)"""
    monkeypatch.setattr(authorizer, "_verifier", BuiltOnce(authorizer._build_verifier))
    monkeypatch.setenv("TWOSTEP_AUTHORIZER_REVOCATION_TTL_SECONDS", "0")
    material = KeyMaterial.from_json(Path(authorizer._settings.get().jwt_key_file).read_text())
    assert allows(issue(material))
    assert source.readers == [threading.get_ident()]
    assert allows(issue(material))
    assert len(source.readers) == 2
