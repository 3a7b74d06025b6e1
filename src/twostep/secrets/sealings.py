"""The key record's text: its key material sealed with the record's master key and, while a master-key
rotation's restarts are under way, also with the master key being replaced.

A signing-key rotation run then adds a key that every server must read, the ones not restarted yet
(holding the old master key alone) too: otherwise they never learn the new key, refuse the tokens it
signs and go on signing with the key it retired. So a rotation seals the record once more for each
previous master key it was given. The record's own master key (`KeyRecord.master_key_id`) seals first:

    <sealing by the record's master key>[,<master key id>:<sealing>]...

Base64url text holds neither `,` nor `:`, so the parts split cleanly, and a record sealed with one master
key is exactly the text earlier versions wrote and read.
"""

from __future__ import annotations

from twostep.secrets.master_key import MasterKey

_PART, _NAMED = ",", ":"


def seal_under(plaintext: str, master: MasterKey, others: tuple[MasterKey, ...] = ()) -> str:
    """`plaintext` sealed with `master` first, then with each of `others` (each a different key)."""
    extra = (f"{key.key_id}{_NAMED}{key.seal(plaintext)}" for key in others if key.key_id != master.key_id)
    return _PART.join((master.seal(plaintext), *extra))


def sealing_ids(sealed: str, master_key_id: str) -> tuple[str, ...]:
    """The ids of the master keys that sealed the record, its own first."""
    extra = (part.split(_NAMED, 1)[0] for part in sealed.split(_PART)[1:])
    return (master_key_id, *extra)


def sealing_by(sealed: str, master_key_id: str, key_id: str) -> str | None:
    """The sealing made with master key `key_id`, or None when it sealed none."""
    first, *extra = sealed.split(_PART)
    if key_id == master_key_id:
        return first
    named = (part.partition(_NAMED) for part in extra)
    return next((text for name, _, text in named if name == key_id), None)
