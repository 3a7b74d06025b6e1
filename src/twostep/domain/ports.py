"""The ports services depend on, as small Protocols; one storage object satisfies all storage ports.

Every storage method that changes state is atomic on its own (one conditional write): services never
read-then-write to decide single use, uniqueness or counting. Storage raises `StorageUnavailable` when
the backend cannot be reached; it never lets a driver exception escape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from twostep.domain.counter_batch import CounterBatch, CounterChange, Unless
from twostep.domain.factor_ports import FactorStorage
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.idempotency import IdempotencyStore
from twostep.domain.identity import E164
from twostep.domain.keys import VersionedKeys
from twostep.domain.models import (
    AuditEvent,
    Challenge,
    CodeUse,
    EmailCollision,
    Message,
    OutboxEntry,
    Page,
    RefreshToken,
    Revocation,
    Session,
    User,
)
from twostep.domain.receipts import Delivery, DeliveryStore


class UserStore(Protocol):
    def add_user(self, user: User) -> None:
        """Store a new user; the email is unique, and the phone must not be another user's *proven*
        number, both checked together with the insert. Unproven claims on one number may coexist.

        Raises:
            AccountExists: the email, or the proven phone number, belongs to another user.
        """
        ...

    def prove_phone(self, account: User, phone: E164) -> bool:
        """A code sent to `phone` came back: make it the account's proven number, in one atomic step,
        only while the account still has `account`'s password hash, number and address (as
        `set_password_hash`: a change committed since the request read it is not undone).

        The account's previous proven number (if another) is freed, and every other account's unproven
        claim on `phone` is dropped (their phone becomes None). Idempotent for the owner.
        Returns False, changing nothing, when another account has already proven `phone`, or the account
        changed or is gone.
        """
        ...

    def prove_email(self, account: User, email: str) -> bool:
        """A code sent to `email` came back: make it the account's (proven) address, moving the
        uniqueness of the old address to it in one atomic step, only while the account still has
        `account`'s password hash, number and address (as `set_password_hash`: a change committed
        since the request read the account is not undone). Returns False, nothing written, when it
        changed or is gone.

        Raises:
            AccountExists: another account has this address.
        """
        ...

    def assign_email(self, account: User, email: str) -> bool:
        """An administrator gives `account` the address `email`, unproven (its owner proves it later),
        exactly as `prove_email` moves an address otherwise: the uniqueness of the old address moves to
        the new one in one atomic step, only while the account is as `account`. Returns False, nothing
        written, when it changed or is gone.

        Raises:
            AccountExists: another account has this address (a sign-up that took it first included).
        """
        ...

    def release_email(self, account: User, placeholder: str) -> bool:
        """The owner of `account`'s address proved it by a claim: give the account `placeholder` (an
        address nobody can sign in with or receive mail at) instead, freeing the address, in one atomic
        step, only while the account still has `account`'s password hash, number and address and the
        address is still unproven. Returns False, nothing written, when the account proved the address
        meanwhile (a proof and a claim landing together: exactly one wins), changed, or is gone."""
        ...

    def get_user(self, user_id: str) -> User | None: ...

    def find_user_by_email(self, email: str) -> User | None: ...

    def canonicalise_emails(self) -> list[EmailCollision]:
        """Give every account whose address is stored in 0.1.0's form (lower-cased only) its canonical
        form (`normalise_email`), so lookups find it again; idempotent, and safe beside writers. Two
        accounts with one canonical address are both kept: the older gets it, the newer keeps its
        spelling and is returned (and logged) for the operator. Run by the migration (`migrate`)."""
        ...

    def find_user_signing_in(self, email: str) -> tuple[User | None, EnrolledFactors | None]:
        """`find_user_by_email` and, where the same storage request can read it, the user's
        `enrolled_factors` (SQL: one statement). None for the factors: not read (DynamoDB: its passkey
        query would come before the password's hash and time who has an account); the caller reads them
        after the password, as before. An unknown email: (None, None)."""
        ...

    def find_user_counting(
        self, email: str, changes: Sequence[CounterChange], now: datetime
    ) -> tuple[CounterBatch, tuple[User | None, EnrolledFactors | None]]:
        """`change_counters(changes, now)` (a login attempt's counts) and `find_user_signing_in(email)`,
        in one storage request where the backend can (PostgreSQL: one statement; the others make the
        two requests in turn). The account is read whatever the batch did."""
        ...

    def set_password_hash(self, account: User, password_hash: str) -> bool:
        """Store a new password hash for `account`, only while the stored account still has `account`'s
        credentials (`User.credentials`: its password hash, number and address); True once stored.

        False, and nothing written, once one of them changed or the account is gone: a request that
        checked the account (its password, a reset's code) and then wrote unconditionally overwrote a
        change that committed in between (an old password's rehash undid a change). The check and the
        write are one storage request."""
        ...

    def set_user_locale(self, user_id: str, locale: str | None) -> bool:
        """Store (None: forget) the language the user wants texts in; False when there is no such user."""
        ...

    def list_users(self, limit: int, cursor: str | None = None) -> Page[User]:
        """Users for administration (CLI); not used on a request path."""
        ...

    def delete_user(self, user_id: str, now: datetime) -> bool:
        """Remove the user, free its email and phone, and revoke its refresh tokens."""
        ...


class ChallengeStore(Protocol):
    def put_challenge(self, challenge: Challenge) -> None:
        """Insert a challenge, or overwrite one with the same id (new verification for an auth_id)."""
        ...

    def get_challenge(self, challenge_id: str) -> Challenge | None: ...

    def get_challenge_with_account(self, challenge_id: str) -> tuple[Challenge | None, User | None]:
        """The challenge and, for a sign-in's (purpose `login`), its subject's account as it is now
        (None: gone), in one storage request where the backend can (SQL: one statement)."""
        ...

    def replace_code(
        self, challenge_id: str, code_hmac: str, expires_at: datetime, now: datetime, channel: str = "sms"
    ) -> Challenge | None:
        """Swap in a new code (resend): keeps `attempts`, adds one to `sends`, sets `last_sent_at` and
        the `channel` the new code goes by (in the same write, so the two never disagree).

        Only while the challenge is unconsumed; returns None otherwise or when it does not exist.
        """
        ...

    def put_back_code(
        self, challenge_id: str, replaced_hmac: str, code_hmac: str, expires_at: datetime, channel: str
    ) -> bool:
        """Swap a code back in (`code_hmac`, its `expires_at` and `channel`) only while the stored, unconsumed
        challenge still holds `replaced_hmac`, the code a failed resend stored; attempts and sends stay as
        stored. True when it did: a resend or create that stored another code meanwhile keeps its own.
        """
        ...

    def arm_challenge_audited(self, challenge: Challenge, audits: Sequence[AuditEvent]) -> Challenge | None:
        """Make a delivered code usable: set `challenge.expires_at` only while the stored challenge still
        holds `challenge.code_hmac` and is unconsumed, and, only when it armed, store the step's audit
        events; all or none in one storage request (one write transaction). Codes are stored unusable
        until their message went out, so a failure between storing and arming never leaves a usable
        code behind.

        Returns the armed challenge (where the storage cannot read it back in that request, `challenge`
        itself: the condition on its code HMAC pins the stored record to it); None when nothing armed
        and nothing was audited."""
        ...

    def store_sent_challenge(
        self, challenge: Challenge, audits: Sequence[AuditEvent], delivery: Delivery | None = None
    ) -> None:
        """Store a challenge whose code already went out, usable at once, together with the step's audit
        events and the message's delivery record (None: no receipt can name the message), all or none in
        one storage request. It replaces a challenge with the same id, as `put_challenge` does, but keeps
        the attempts counted on that one: the placeholder of a password reset or an address claim takes
        wrong codes while the real code is on its way, and a fresh budget once it arrived would tell the
        guesser that the address has an account (and give more guesses). A delivery record with the same
        provider and message id stays as it is, as in `add_delivery`.

        The way to issue a brand-new code in one write: nothing is stored before the message went out, so
        a failed delivery or a failed write leaves no usable code behind (`arm_challenge_audited` arms a
        code stored beforehand, for a resend that must keep its challenge's state)."""
        ...

    def count_attempt(self, challenge_id: str, now: datetime) -> Challenge | None:
        """Atomically add one attempt if the challenge is unconsumed, unexpired and under budget.

        Returns the challenge after the increment, or None when the gate refused (the caller then
        reads the challenge to tell not found / expired / used / exhausted apart).
        """
        ...

    def consume_challenge(self, challenge_id: str, now: datetime) -> bool:
        """Mark the challenge used; True only for the one caller that did so."""
        ...

    def attempt_challenge(self, challenge_id: str, now: datetime, consume_if: str | None) -> Challenge | None:
        """`count_attempt`, consuming the challenge in the same atomic write while it still holds the
        code HMAC `consume_if` (the caller matched the submitted code against it; None: a wrong code).

        Returns the challenge after the write (`consumed_at` set when this call consumed it), or None
        when the gate refused, like `count_attempt`.
        """
        ...

    def expire_challenge(self, challenge_id: str, now: datetime) -> None:
        """Make the challenge unusable at once (a code that was never delivered)."""
        ...


class RefreshTokenStore(Protocol):
    def add_refresh_token(self, token: RefreshToken) -> None: ...

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None: ...

    def claim_refresh_token(
        self, token_hash: str, now: datetime, issued_after: datetime | None = None
    ) -> RefreshToken | None:
        """Atomically mark an unused, unrevoked, unexpired token as used; None if that failed. With
        `issued_after`, a token issued at or before it (its session idle since) is refused too, unspent."""
        ...

    def revoke_family(self, family_id: str, now: datetime) -> bool:
        """End the session: every token of the family stops working, the session is marked revoked
        and put on the revocation list (`list_revocations`), all in one atomic step.

        True only for the call that ended it (False: unknown, or already ended).
        """
        ...


class SessionStore(Protocol):
    """Sign-in sessions (one per refresh-token family) and the list of recently ended ones."""

    def add_session(
        self,
        session: Session,
        first_token: RefreshToken,
        audits: Sequence[AuditEvent] = (),
        unchanged: User | None = None,
    ) -> bool:
        """Store a new session together with its first refresh token and the audit events of the step
        that opened it (all or none, in one storage request); True once stored.

        `unchanged`: the account as the sign-in checked it. While its password hash, phone number or
        email address is no longer the stored account's (or the account is gone), nothing is stored and
        the answer is False. The check and the write are one: a change that commits first refuses the
        session, one that commits after it finds the session among the account's (to end it)."""
        ...

    def add_session_counted(
        self,
        session: Session,
        first_token: RefreshToken,
        audits: Sequence[AuditEvent],
        changes: Sequence[CounterChange],
        now: datetime,
        unless: Sequence[Unless] = (),
        consuming: CodeUse | None = None,
        unchanged: User | None = None,
    ) -> bool:
        """`add_session` with counter changes without limits (`CounterStore.change_counters`), all or
        none: while a record of `unless` holds, nothing is stored and the answer is False.
        `consuming`: the code that opens the session, its challenge consumed with it (the attempt
        counted), all or none: while the challenge cannot be consumed as `CodeUse` says, nothing is
        stored either (the caller checks the code on its own then, and learns why). `unchanged`: as
        for `add_session`, False too.

        One storage request: a transaction on SQLite and DynamoDB, one statement on PostgreSQL."""
        ...

    def get_session(self, user_id: str, session_id: str) -> Session | None:
        """The user's session, revoked or not; None when it is not theirs or does not exist."""
        ...

    def touch_session(self, user_id: str, session_id: str, now: datetime) -> Session | None:
        """Set `last_used_at` (a refresh); the session after the change, None when it does not exist."""
        ...

    def list_sessions(self, user_id: str, now: datetime) -> list[Session]:
        """The user's sessions that are neither revoked nor expired, newest first."""
        ...

    def page_sessions(
        self, user_id: str, now: datetime, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        """`list_sessions` a page at a time: the `limit` newest after `cursor` (a page's `next_cursor`).

        Raises: InvalidInput (a cursor no page gave)."""
        ...

    def list_revocations(self, since: datetime) -> list[Revocation]:
        """Sessions revoked at or after `since` (a short window: the access-token lifetime)."""
        ...

    def end_sessions(
        self, user_id: str, now: datetime, live_after: datetime, keep: str | None = None
    ) -> list[str]:
        """End every session of the user that is not revoked and expires after `live_after`, except
        `keep`, as `revoke_family` ends one (its tokens stop working, it is marked revoked at `now` and
        put on the revocation list); the ids of those it ended.

        In a number of storage requests that does not grow with each session: one transaction on SQLite,
        one statement on PostgreSQL (a session stored by a sign-in that commits first is ended, one that
        commits after stays), on DynamoDB the Query pages plus one transaction per `END_BATCH` sessions."""
        ...


class MessageStore(Protocol):
    def add_message(self, message: Message) -> None: ...

    def list_messages(self, limit: int, cursor: str | None = None) -> Page[Message]:
        """Newest first; `cursor` continues after the last message of the previous page."""
        ...

    def anonymise_messages(self, user_id: str, author: str, pseudonym: str) -> int:
        """A deleted account's messages stay, under a neutral `author` and the `pseudonym` as user id."""
        ...


class OutboxStore(Protocol):
    def add_outbox(self, entry: OutboxEntry) -> None: ...

    def list_outbox(
        self, to: str | None = None, last: int = 20, channel: str | None = None
    ) -> list[OutboxEntry]:
        """The `last` newest entries (optionally only to one number, or of one channel), oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class Counter:
    value: int
    expires_at: datetime


class CounterStore(Protocol):
    def increment_counter(self, key: str, amount: int, now: datetime, expires_at: datetime) -> int:
        """Atomically add `amount` and return the new value.

        A missing or expired counter starts again from zero with the given `expires_at`; a live one
        keeps its expiry.
        """
        ...

    def get_counter(self, key: str, now: datetime) -> Counter | None:
        """The live counter, or None when missing or expired."""
        ...

    def get_counters(self, keys: Sequence[str], now: datetime) -> dict[str, Counter]:
        """The live counters among `keys` (missing or expired ones are left out), in one storage request."""
        ...

    def delete_counter(self, key: str) -> None: ...

    def change_counters(
        self, changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless] = ()
    ) -> CounterBatch:
        """Apply every change in one storage request, all or nothing (see `CounterChange` and
        `CounterBatch`): a change whose limit would be passed refuses the batch, and a counter of
        `unless` that holds (read in the same request) stops it; either way nothing changes. An
        `unless` may name a counter the batch forgets (`forget`): it is read before the change.

        Raises: ValueError (a key twice), StorageUnavailable.
        """
        ...


@dataclass(frozen=True, slots=True)
class PrefixBlock:
    """The fraud guard stopped sends to numbers starting with `prefix` until `until`."""

    prefix: str
    blocked_at: datetime
    until: datetime
    sent: int  # the rolling counts that made it block
    verified: int


class PrefixBlockStore(Protocol):
    def add_prefix_block(self, block: PrefixBlock) -> bool:
        """Store `block` unless a block of the prefix is live at `block.blocked_at` (one conditional write).

        True only for the caller that stored it, so a block is audited once however many requests race.
        """
        ...

    def get_prefix_block(self, prefix: str, now: datetime) -> PrefixBlock | None:
        """The live block of `prefix`, or None."""
        ...

    def list_prefix_blocks(self, now: datetime) -> list[PrefixBlock]:
        """Every live block, by prefix (administration; never on a request path)."""
        ...

    def delete_prefix_block(self, prefix: str) -> bool:
        """Lift a block; True when a live or expired block was there."""
        ...


class AuditStore(Protocol):
    def append_audit(self, event: AuditEvent) -> None: ...

    def append_audits(self, events: Sequence[AuditEvent]) -> None:
        """Several events of one request, in order, with one storage request (a sign-in's last step
        records two or three)."""
        ...

    def list_audit(self, user_id: str | None = None, limit: int = 50) -> list[AuditEvent]:
        """The `limit` newest events, oldest first."""
        ...

    def pseudonymise_audit(self, user_id: str, pseudonym: str) -> int:
        """A deleted account's events keep only `pseudonym`: no email hash, masked phone or IP."""
        ...


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """The deployment's key material, sealed with its master key, shared by every process and host."""

    version: int  # 1 for the first record, one more for every replacement
    sealed: str  # what the key source sealed; storage never looks inside
    master_key_id: str  # names the master key that sealed it, to refuse a mismatch with one clear line
    updated_at: datetime


class KeyStore(Protocol):
    def get_key_record(self) -> KeyRecord | None:
        """The record (strongly consistent read), or None before the first start."""
        ...

    def put_key_record(self, record: KeyRecord, replaces: int | None) -> bool:
        """Store `record` only if the stored version is `replaces` (None: only if there is no record).

        One conditional write; True for the one caller that won, False otherwise.
        """
        ...


@dataclass(frozen=True, slots=True)
class PurgeRules:
    """What housekeeping may delete: rows that ended before these moments, at most `limit` of each kind."""

    challenges_before: datetime  # expired (or used) codes whose `expires_at` is earlier
    refresh_before: datetime  # refresh tokens and sessions that ended earlier
    # Revocation-list entries written earlier: never later than the list's look-back (access tokens of a
    # revoked session live that long, and a process that reads the list then must still see the entry).
    revocations_before: datetime
    counters_before: datetime  # counters whose window ended earlier
    outbox_before: datetime  # console-outbox messages sent earlier
    audit_before: datetime  # audit events older than the retention
    limit: int


PURGED_KINDS = (
    "challenges",
    "refresh_tokens",
    "counters",
    "outbox",
    "audit",
    "sessions",
    "revocations",
    # Expired WebAuthn ceremonies, remembered devices and fraud-guard prefix blocks: `challenges_before`.
    "webauthn_ceremonies",
    "remembered_devices",
    "prefix_blocks",
    # Delivery records of sent messages (domain/receipts.py): `challenges_before` on their own expiry.
    "deliveries",
    # `Idempotency-Key` records past their `expires_at`: `counters_before`.
    "idempotency_keys",
)


class PurgeStore(Protocol):
    def purge_expired(self, rules: PurgeRules) -> dict[str, int]:
        """Delete up to `rules.limit` rows of each kind in `PURGED_KINDS` that ended before its cutoff
        (bounded work: an index range, never a scan); returns how many of each were deleted. A backend
        whose own expiry deletes a kind (DynamoDB's TTL) lists it in `expired_by_backend` instead."""
        ...

    @property
    def expired_by_backend(self) -> frozenset[str]:
        """Kinds this backend removes itself when they expire (DynamoDB TTL); empty for the others."""
        ...


@runtime_checkable
class BackupStore(Protocol):
    """A storage that can copy itself while live (SQLite's online backup)."""

    def backup_to(self, target: Path) -> None:
        """A consistent copy in `target`. Raises: OSError (the copy's side), StorageUnavailable."""
        ...

    def checkpoint(self) -> None:
        """Make the database file complete on its own (SQLite: fold the WAL in)."""
        ...


class KeySource(Protocol):
    """Where a process gets the deployment's shared key material (the database, or a secret store)."""

    def load(self) -> VersionedKeys:
        """The key material in use; at start-up.

        Raises:
            ConfigurationError: the keys cannot be opened or disagree with this process's configuration.
        """
        ...

    def changed_since(self, version: str) -> VersionedKeys | None:
        """The key material if it changed since `version`, else None; cheap enough to call every minute."""
        ...


class Storage(
    UserStore,
    ChallengeStore,
    RefreshTokenStore,
    SessionStore,
    MessageStore,
    OutboxStore,
    CounterStore,
    PrefixBlockStore,
    AuditStore,
    FactorStorage,
    DeliveryStore,
    KeyStore,
    PurgeStore,
    IdempotencyStore,
    Protocol,
):
    """Everything a storage adapter provides."""

    def init_schema(self) -> None:
        """Create tables where missing and apply pending schema migrations; idempotent."""
        ...

    def migrate(self) -> list[int]:
        """Apply pending schema migrations; returns the versions applied now (none: already current).

        Safe when several processes call it at once: each step is applied exactly once.
        """
        ...

    def ping(self) -> None:
        """Raises StorageUnavailable when the backend cannot be reached."""
        ...

    def close(self) -> None: ...


class SmsSender(Protocol):
    """Sends one text message. Implementations never log or raise with the body or credentials."""

    name: str

    def send(self, to: str, body: str) -> str:
        """Deliver `body` to the E.164 number `to`; returns the provider's message id.

        Raises:
            SmsDeliveryError: with a stable `reason` when the provider did not take the message.
        """
        ...


@runtime_checkable
class ExpiringSmsSender(Protocol):
    """A sender that can tell the provider to drop a message it could not deliver within its lifetime."""

    def send_expiring(self, to: str, body: str, valid_seconds: int) -> str:
        """Like `SmsSender.send`; the provider discards the text if undelivered after `valid_seconds`."""
        ...


def send_expiring(sender: SmsSender, to: str, body: str, valid_seconds: int) -> str:
    """Send a code that is worthless after `valid_seconds`: with that lifetime where the sender knows it.

    Raises:
        SmsDeliveryError: as `SmsSender.send`.
    """
    if isinstance(sender, ExpiringSmsSender):
        return sender.send_expiring(to, body, valid_seconds)
    return sender.send(to, body)


class EmailSender(Protocol):
    """Sends one email. Implementations never log or raise with the body or credentials."""

    name: str

    def send(self, to: str, subject: str, body: str) -> str:
        """Deliver a plain-text email to `to`; returns the provider's message id.

        Raises:
            EmailDeliveryError: with a stable `reason` when the provider did not take the message.
        """
        ...
