"""The providers and channels table of the docs, generated from the provider registry."""

from __future__ import annotations

from twostep.channels import registry


def _needs(carrier: registry.Carrier) -> str:
    names = [(need,) if isinstance(need, str) else need for need in carrier.needs]
    return ", ".join(" or ".join(f"`TWOSTEP_{name.upper()}`" for name in need) for need in names) or "none"


def providers_markdown() -> str:
    """One row per provider and channel: what it is, the settings it needs, its module."""
    rows = ["| provider | channel | settings it needs | module |", "|---|---|---|---|"]
    for name, provider in registry.PROVIDERS.items():
        for index, (channel, carrier) in enumerate(provider.channels.items()):
            about = f"`{name}`: {provider.summary}" if index == 0 else f"`{name}`"
            shown = "every channel" if channel == registry.EVERY_CHANNEL else f"`{channel}`"
            rows.append(f"| {about} | {shown} | {_needs(carrier)} | `{carrier.target}` |")
    return "\n".join(rows)
