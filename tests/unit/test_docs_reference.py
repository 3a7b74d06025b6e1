"""The generated reference pages: every setting documented, every section rendered."""

from __future__ import annotations

from twostep.docs.api_page import api_markdown, openapi_document
from twostep.docs.cli_page import cli_markdown, exit_codes_markdown
from twostep.docs.settings_page import HOW_TO_DOCUMENT, env_name, settings_markdown, undocumented_settings
from twostep.settings import Settings


def test_every_setting_has_a_description() -> None:
    missing = undocumented_settings()
    assert not missing, f"settings without a description: {', '.join(missing)}.\nTo fix it, {HOW_TO_DOCUMENT}"


def test_the_reference_lists_every_setting_with_its_default() -> None:
    page = settings_markdown()
    for name in Settings.model_fields:
        assert f"| `{env_name(name)}` |" in page
    assert "| `AWS_REGION`, `AWS_DEFAULT_REGION` |" in page
    assert "## Other" not in page, "every setting sits under a `# --- section ---` comment in settings.py"
    assert "| `TWOSTEP_OTP_LENGTH` | `6` | Digits in a sign-in code. (≥ 4, ≤ 10) |" in page


def test_the_cli_reference_shows_every_command_and_exit_code() -> None:
    page = cli_markdown()
    for title in ("## `twostep serve`", "## `twostep keys rotate`", "## `twostep sms outbox`"):
        assert title in page
    assert "--port PORT" in page
    codes = exit_codes_markdown()
    assert "- `3`: not found" in codes and "- `4`: unavailable" in codes


def test_the_http_reference_comes_from_the_openapi_document() -> None:
    document = openapi_document()
    page = api_markdown(document)
    for path, item in document["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                assert f"### `{method.upper()} {path}`" in page
    assert "### `POST /register`" in page
