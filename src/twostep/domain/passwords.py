"""Password rules and Argon2id hashing (NIST 800-63B: length, no composition rules, a blocklist)."""

from __future__ import annotations

import base64
import secrets
import threading
import unicodedata
import weakref
from collections.abc import Callable, Iterator
from functools import cache
from importlib.resources import files
from typing import TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from twostep.domain.argon2id import Argon2id
from twostep.domain.errors import WeakPassword
from twostep.domain.hash_queue import HashQueue
from twostep.domain.password_patterns import ascii_digits, is_guessable
from twostep.domain.password_spelling import (
    Verified,
    earlier_spelling,
    marked,
    normalise_password,
    unmarked,
)

T = TypeVar("T")

MIN_LENGTH = 8
MAX_LENGTH = 128

# Whole-string matches only: a long password that contains one of these is fine. These are the ones a
# published list would miss (the service's own name) besides a few of the most common; the published list
# is `common_passwords.txt` (`published_common_passwords`).
COMMON_PASSWORDS = frozenset(
    [
        "password",
        "password1",
        "password12",
        "password123",
        "password1234",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "12345678",
        "123456789",
        "1234567890",
        "12345678910",
        "87654321",
        "11111111",
        "00000000",
        "88888888",
        "qwertyui",
        "qwerty123",
        "qwerty1234",
        "qwertyuiop",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "1qaz2wsx",
        "zaq12wsx",
        "abc12345",
        "abcd1234",
        "abcdefgh",
        "iloveyou",
        "iloveyou1",
        "sunshine",
        "sunshine1",
        "princess",
        "princess1",
        "football",
        "football1",
        "baseball",
        "baseball1",
        "superman",
        "trustno1",
        "welcome1",
        "welcome123",
        "letmein1",
        "letmein123",
        "monkey123",
        "dragon123",
        "master123",
        "starwars",
        "computer",
        "internet",
        "whatever",
        "changeme",
        "changeme1",
        "secret123",
        "default1",
        "admin123",
        "administrator",
        "login123",
        "test1234",
        "testtest",
        "qwertyuiop123",
        "asdfghjkl",
        "asdfasdf",
        "zxcvbnm1",
        "michael1",
        "jennifer",
        "charlie1",
        "shadow123",
        "twostep",
        "twostep1",
        "twostep123",
    ]
)


class PublishedPasswords:
    """The published list as one newline-separated ASCII string: ~0.1 MiB where a set of its 11,611
    strings held ~1.4 MiB in every server that took a sign-up (a served process's peak memory is a
    bench target). A lookup scans it, ~10-25 µs, once per sign-up, change or reset; a sign-in never does."""

    def __init__(self, one_per_line: str) -> None:
        self._count = one_per_line.count("\n") + 1
        self._lines = ("\n" + one_per_line + "\n").encode("ascii")

    def __contains__(self, lowered: object) -> bool:
        if not isinstance(lowered, str) or not lowered.isascii() or "\n" in lowered:
            return False  # every listed password is one line of ASCII
        return b"\n" + lowered.encode("ascii") + b"\n" in self._lines

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines.decode("ascii").split("\n")[1:-1])


@cache
def published_common_passwords() -> PublishedPasswords:
    """The common passwords of 8 or more characters that leaked lists hold most often (lowercase, one per
    line after the file's `#` header). Read on the first check, not at import: a sign-in never needs it."""
    text = files("twostep.domain").joinpath("common_passwords.txt").read_text(encoding="ascii")
    start = 0
    while text.startswith("#", start):
        start = text.index("\n", start) + 1
    return PublishedPasswords(text[start:].strip("\n"))


def typed_length(password: str, normalised: str) -> int:
    """The characters a person typed, for the minimum: the code points of the composed (NFC) spelling,
    or of the NFKC one where that is shorter. NFKC makes one keystroke many (the ligature \ufdfa is 18
    characters, the square \u3300 is 4), so its length alone let a password of one typed character
    pass a 15-character minimum."""
    return min(len(unicodedata.normalize("NFC", password)), len(normalised))


def check_password_rules(
    password: str,
    *,
    context_words: tuple[str, ...] = (),
    min_length: int = MIN_LENGTH,
    field: str = "password",
) -> None:
    """Raises WeakPassword with a reason a person can act on (see `password_policy` for `min_length`),
    naming `field`: the request's own name for the password, where a form shows the reason."""
    normalised = normalise_password(password)
    if typed_length(password, normalised) < min_length:
        raise WeakPassword(f"The password must have at least {min_length} characters.", field=field)
    if len(normalised) > MAX_LENGTH:
        raise WeakPassword(f"The password must have at most {MAX_LENGTH} characters.", field=field)
    # `password1` in full-width letters is the listed `password1`, and `١٢٣٤٥٦٧٨` is `12345678`.
    lowered = ascii_digits(normalised.lower())
    # One answer whichever matched, naming no check: the words compared are the email as typed and the
    # service's names, so an email gets the same answer whether or not it has an account.
    if (
        lowered in COMMON_PASSWORDS
        or lowered in published_common_passwords()
        or any(word and lowered == word.lower() for word in context_words)
        or is_guessable(lowered, context_words)
    ):
        raise WeakPassword("This password is too common or easy to guess; choose another.", field=field)


def dummy_hash(hasher: Argon2Hasher) -> str:
    """An encoded Argon2id hash with `hasher`'s parameters and a random salt and digest.

    Verifying any password against it costs exactly a real check (the same memory, passes, lanes and
    lengths) and never succeeds (no password is known to give a random digest). It used to be a real
    hash of a fixed password, made at start-up: one Argon2id run (30-70 ms) on every cold start.
    """

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    return (
        f"$argon2id$v=19$m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
        f"${b64(secrets.token_bytes(hasher.salt_len))}${b64(secrets.token_bytes(hasher.hash_len))}"
    )


def current_shape(hasher: Argon2Hasher, example: str) -> tuple[str, int, int] | None:
    """How a hash with `hasher`'s parameters is spelled, from `example` (one such hash): its head up to
    the salt, and the salt's and digest's lengths in base64. argon2-cffi reads every parameter from
    these (the lengths from the text's length), so a hash of this shape never needs a rehash. None
    when argon2-cffi would not say so of `example` (then every check asks argon2-cffi)."""
    if hasher.check_needs_rehash(example):
        return None
    head, salt, digest = example.rsplit("$", 2)
    return f"{head}$", len(salt), len(digest)


class PasswordHasher:
    """Argon2id with parameters fixed at start-up; verifies in constant work even for unknown users.

    Hashes run on a few dedicated threads (`max_concurrent`, one per usable core), whatever the number
    of request threads: more concurrent hashes than cores buy no throughput, each holds `memory_kib`
    while it runs, and every thread that ever hashed keeps that much in its malloc arena. Measured by
    the bench: 16 concurrent sign-ins on one core went from ~140 MiB peak to ~60 MiB.
    """

    def __init__(
        self,
        memory_kib: int = 19456,
        time_cost: int = 2,
        parallelism: int = 1,
        max_concurrent: int = 1,
        on_queue: Callable[[int], None] | None = None,
        group: int = 1,
    ) -> None:
        self._hasher = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # The same hashes, each by the cheapest path that can take it (see argon2id).
        self._argon2id = Argon2id(self._hasher)
        # Under load each thread hands results back `group` at a time (see hash_queue); 1: each at once.
        self._pool = HashQueue(max_concurrent, group)
        weakref.finalize(self, self._pool.close)  # threads end when this hasher is collected
        # Told how many hashes wait for a thread, each time that changes (the metrics' queue gauge).
        self._on_queue = on_queue
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        # Verifying against this when the email is unknown spends the same work as a real check.
        self._dummy_hash = dummy_hash(self._hasher)
        self._current_shape = current_shape(self._hasher, self._dummy_hash)

    def computed_by(self) -> str:
        """What computes the hashes (see `Argon2id.computed_by`)."""
        return self._argon2id.computed_by()

    def _run(self, work: Callable[..., T], *args: str) -> T:
        """`work(*args)` on a hashing thread, keeping count of the hashes waiting for one."""
        if self._on_queue is None:
            return self._pool.submit(lambda: work(*args)).result()
        self._queue_changed(+1)

        def started() -> T:
            self._queue_changed(-1)
            return work(*args)

        return self._pool.submit(started).result()

    def _queue_changed(self, delta: int) -> None:
        with self._waiting_lock:
            self._waiting += delta
            waiting = self._waiting
        if self._on_queue is not None:
            self._on_queue(waiting)

    def hash(self, password: str) -> str:
        """A hash of the NFKC spelling, marked as such (see `password_spelling`)."""
        return marked(self._run(self._argon2id.hash, normalise_password(password)))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; with `stored_hash=None` it does the same work and fails."""
        return self.check(stored_hash, password) is not Verified.NO

    def check(self, stored_hash: str | None, password: str) -> Verified:
        """`verify`, saying what a right password's hash wants (`Verified`). One Argon2 run, except for a
        hash without the NFKC mark and a password whose NFC spelling differs: then a wrong one costs two.

        That second run is bounded: only a hash made before the mark lacks it (every hash stored since,
        at sign-up, change or reset, has it), and the first right sign-in of such an account stores it
        marked (`replacement`), so only accounts not signed in since the upgrade pay it, a set that only
        shrinks, each guess at them still counted as one attempt by the login limits. An unknown email
        (`stored_hash=None`) costs one run, as a new account's hash does: else every guess at a made-up
        email would cost two, for good. Such old accounts are therefore told from unknown emails by a
        guess's timing; sign-up tells who has an account anyway (docs/security.md).
        """
        if len(password) > MAX_LENGTH * 4:
            return Verified.NO
        normalised = normalise_password(password)
        if stored_hash is None:
            self._matches(self._dummy_hash, normalised)
            return Verified.NO
        encoded, nfkc_only = unmarked(stored_hash)
        if self._matches(encoded, normalised):
            return Verified.YES if nfkc_only else Verified.UNMARKED
        if nfkc_only:
            return Verified.NO
        # A hash made before NFKC, of a password with compatibility characters, was made of its NFC
        # spelling: it keeps verifying the password as typed then.
        earlier = earlier_spelling(password, normalised)
        if earlier is not None and self._matches(encoded, earlier):
            return Verified.EARLIER_SPELLING
        return Verified.NO

    def replacement(self, stored_hash: str, password: str, verified: Verified) -> str:
        """What to store in place of `stored_hash` once `check` found `password` right as `verified`
        (anything but YES, or `needs_rehash`): the same hash marked where only the mark is missing (no
        Argon2 run), else a new hash of the NFKC spelling with the current parameters."""
        if verified is Verified.UNMARKED and not self.needs_rehash(stored_hash):
            return marked(stored_hash)
        return self.hash(password)

    def _matches(self, target: str, normalised: str) -> bool:
        try:
            return self._run(self._argon2id.verify, target, normalised)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """argon2-cffi's answer; a hash in the exact spelling of the current parameters (nearly every
        sign-in's) is answered without parsing it (argon2-cffi's parse: ~30 k instructions a sign-in).
        The NFKC mark is no parameter: a hash is answered as argon2's string without it."""
        stored_hash, _ = unmarked(stored_hash)
        if self._current_shape is not None:
            head, salt_chars, digest_chars = self._current_shape
            if stored_hash.startswith(head):
                rest = stored_hash[len(head) :].split("$")
                if len(rest) == 2 and len(rest[0]) == salt_chars and len(rest[1]) == digest_chars:
                    return False
        return self._hasher.check_needs_rehash(stored_hash)

    def close(self) -> None:
        """Let the hashing threads end once they have done and handed back what is queued."""
        self._pool.close()
