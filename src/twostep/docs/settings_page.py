"""The configuration reference, generated from the settings model so it cannot drift from the code.

Every field of `twostep.settings.Settings` needs a description: a docstring line right under the field.
`undocumented_settings` lists the ones without; a unit test fails on them.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.fields import FieldInfo

from twostep.settings import Settings

HOW_TO_DOCUMENT = (
    "add a docstring line right under the field in src/twostep/settings.py, e.g.\n"
    '    my_setting: int = Field(default=5, ge=1)\n    """What it does, its unit, when to change it."""\n'
    "The configuration reference (docs/configuration.md, built by `make docs`) is generated from it."
)

SECTION_OF_PREFIX = (
    ("stage org_name issuer audience web_origin cors_origins trusted_proxies log_level", "Service"),
    ("storage sqlite_ database_ dynamodb_ secret_arn kms_", "Storage and keys"),
    ("otp_ sms_template require_second_factor", "Sign-in codes"),
    ("argon2_", "Passwords"),
    ("jwt_ access_token_ refresh_token_", "Tokens"),
    ("sms_providers sms_timeout twilio_ flowroute_ sipgate_ sns_", "SMS delivery"),
    ("resend_ sms_per_ sms_hourly sms_allowed login_ ip_", "Abuse and cost protection"),
    ("verify_", "Standalone verification API"),
)


def env_name(field: str) -> str:
    return f"TWOSTEP_{field.upper()}"


def undocumented_settings() -> list[str]:
    """Environment names of settings that have no description."""
    return [
        env_name(name) for name, info in Settings.model_fields.items() if not (info.description or "").strip()
    ]


def section_of(field: str) -> str:
    for prefixes, title in SECTION_OF_PREFIX:
        if any(field.startswith(prefix) for prefix in prefixes.split()):
            return title
    return "Other"


def _default(info: FieldInfo) -> str:
    value: Any = info.get_default(call_default_factory=True)
    if value is None:
        return "*unset*"
    if isinstance(value, list):
        return f"`{','.join(value)}`" if value else "*empty*"
    if isinstance(value, bool):
        return f"`{json.dumps(value)}`"
    return f"`{_cell(str(value))}`"


def _bounds(info: FieldInfo) -> str:
    parts = []
    for meta in info.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            bound = getattr(meta, attr, None)
            if bound is not None:
                parts.append(f"{sign} {bound}")
        for attr, text in (("min_length", "length ≥"), ("max_length", "length ≤")):
            bound = getattr(meta, attr, None)
            if bound is not None:
                parts.append(f"{text} {bound}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def settings_markdown() -> str:
    """The settings as Markdown tables, one per section, in the model's order."""
    sections: dict[str, list[str]] = {}
    for name, info in Settings.model_fields.items():
        description = _cell(info.description or "**undocumented**")
        bounds = _bounds(info)
        if bounds:
            description += f" ({bounds})"
        row = f"| `{env_name(name)}` | {_default(info)} | {description} |"
        sections.setdefault(section_of(name), []).append(row)
    out = []
    for title, rows in sections.items():
        out += [f"## {title}", "", "| Variable | Default | Meaning |", "|---|---|---|", *rows, ""]
    return "\n".join(out)
