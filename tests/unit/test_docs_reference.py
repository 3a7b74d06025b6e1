"""The generated reference pages: every setting documented, every section rendered."""

from __future__ import annotations

from twostep.docs.settings_page import HOW_TO_DOCUMENT, settings_markdown, undocumented_settings
from twostep.settings import Settings


def test_every_setting_has_a_description() -> None:
    missing = undocumented_settings()
    assert not missing, f"settings without a description: {', '.join(missing)}.\nTo fix it, {HOW_TO_DOCUMENT}"


def test_the_reference_lists_every_setting_with_its_default() -> None:
    page = settings_markdown()
    for name in Settings.model_fields:
        assert f"`TWOSTEP_{name.upper()}`" in page
    assert "| `TWOSTEP_OTP_LENGTH` | `6` | Digits in a sign-in code. (≥ 4, ≤ 10) |" in page
