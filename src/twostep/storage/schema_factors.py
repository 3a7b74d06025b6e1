"""Migration step 7: the tables of the second factors (TOTP, recovery codes, passkeys, WebAuthn
ceremonies, remembered devices), in both dialects. Never edit this once landed; add a new step."""

from __future__ import annotations

SQLITE_FACTORS = """
CREATE TABLE IF NOT EXISTS totp_factors (
    user_id TEXT PRIMARY KEY, created_at REAL NOT NULL, secret_sealed TEXT, pending_sealed TEXT,
    enabled_at REAL, last_step INTEGER);
CREATE TABLE IF NOT EXISTS recovery_codes (
    user_id TEXT NOT NULL, code_hash TEXT NOT NULL, created_at REAL NOT NULL, used_at REAL,
    PRIMARY KEY (user_id, code_hash));
CREATE TABLE IF NOT EXISTS passkeys (
    credential_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, public_key BLOB NOT NULL,
    sign_count INTEGER NOT NULL, created_at REAL NOT NULL, name TEXT NOT NULL, backed_up INTEGER NOT NULL,
    transports TEXT NOT NULL, last_used_at REAL);
CREATE INDEX IF NOT EXISTS passkeys_user ON passkeys (user_id, created_at);
CREATE TABLE IF NOT EXISTS webauthn_ceremonies (
    id TEXT PRIMARY KEY, purpose TEXT NOT NULL, subject TEXT NOT NULL, challenge TEXT NOT NULL,
    expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS remembered_devices (
    token_hash TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, label TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS remembered_devices_user ON remembered_devices (user_id, created_at);
"""

POSTGRES_FACTORS = """
CREATE TABLE IF NOT EXISTS totp_factors (
    user_id text PRIMARY KEY, created_at timestamptz NOT NULL, secret_sealed text, pending_sealed text,
    enabled_at timestamptz, last_step bigint);
CREATE TABLE IF NOT EXISTS recovery_codes (
    user_id text NOT NULL, code_hash text NOT NULL, created_at timestamptz NOT NULL, used_at timestamptz,
    PRIMARY KEY (user_id, code_hash));
CREATE TABLE IF NOT EXISTS passkeys (
    credential_id text PRIMARY KEY, user_id text NOT NULL, public_key bytea NOT NULL,
    sign_count bigint NOT NULL, created_at timestamptz NOT NULL, name text NOT NULL, backed_up boolean NOT NULL,
    transports text NOT NULL, last_used_at timestamptz);
CREATE INDEX IF NOT EXISTS passkeys_user ON passkeys (user_id, created_at);
CREATE TABLE IF NOT EXISTS webauthn_ceremonies (
    id text PRIMARY KEY, purpose text NOT NULL, subject text NOT NULL, challenge text NOT NULL,
    expires_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS remembered_devices (
    token_hash text PRIMARY KEY, id text NOT NULL UNIQUE, user_id text NOT NULL, created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL, label text NOT NULL);
CREATE INDEX IF NOT EXISTS remembered_devices_user ON remembered_devices (user_id, created_at);
"""

# Migration step 20: a passkey registration's ceremonies by their account, which its deletion erases.
REGISTRATIONS_INDEX = (
    "CREATE INDEX IF NOT EXISTS webauthn_registrations_subject ON webauthn_ceremonies (subject)"
    " WHERE purpose = 'register'"
)
