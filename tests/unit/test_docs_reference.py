"""The generated reference pages: every setting documented, every section rendered."""

from __future__ import annotations

import re
from pathlib import Path

from twostep.api.verification_errors import _REASONS
from twostep.docs.api_page import api_markdown, openapi_document
from twostep.docs.cli_page import cli_markdown, exit_codes_markdown
from twostep.docs.errors_page import error_codes, error_codes_markdown
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


ROOT = Path(__file__).resolve().parents[2]
# How the pages name a problem's `code`: `"code": "x"`, `code: x`, `code` `x`, and a status before it
# (`409 account_exists`; a 429 names its limit instead, such as `ip_sms_rate`).
NAMED_CODE = re.compile(
    r'"code": "([a-z_]+)"|`code: "?([a-z_]+)"?`|`code` `([a-z_]+)`|\b(?!429)[1-5]\d\d `([a-z]+(?:_[a-z]+)+)`'
    r"|a stable `code` \(for example ([^)]*)\)"
)


def test_the_pages_name_only_codes_the_api_answers() -> None:
    """Before, the HTTP API page gave `invalid_code` as an example of the stable codes, which the API
    never answers (a wrong code is `wrong_code`), and no page listed the codes at all."""
    codes = error_codes()
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    named: list[tuple[str, str]] = []
    for page in pages:
        text = " ".join(page.read_text().split())
        for match in NAMED_CODE.finditer(text):
            found = next(group for group in match.groups() if group)
            named += [(page.name, code) for code in re.findall(r"[a-z]+(?:_[a-z]+)+", found)]
    unknown = sorted({f"{page}: {code}" for page, code in named if code not in codes})
    assert not unknown, f"codes the API never answers: {unknown}"
    assert ("http-api.md", "wrong_code") in named  # the scan reads the HTTP page's examples


def test_the_error_code_table_lists_every_code_with_its_status() -> None:
    table = error_codes_markdown()
    for row in ("| `wrong_code` | 401 |", "| `account_exists` | 409 |", "| `body_too_large` | 413 |"):
        assert row in table
    assert "<!-- generated: error-codes -->" in (ROOT / "docs/reference/http-api.md").read_text()


def test_the_verification_page_lists_every_status_and_reason() -> None:
    """Before, the verification API's error table left out the Idempotency-Key refusals its routes answer
    (409 `IdempotencyRequestInProgress`, 422 `IdempotencyKeyReused`, 400 `invalid_idempotency_key`)."""
    page = " ".join((ROOT / "docs/verification-api.md").read_text().split())
    answers = {(status, reason) for _, status, reason, _ in _REASONS} | {(400, "InvalidAPIUsage")}
    missing = [
        f"{status} {reason}" for status, reason in sorted(answers) if f"| {status} | `{reason}` |" not in page
    ]
    assert not missing, f"docs/verification-api.md's error table lacks {missing}"
    assert "`code: invalid_idempotency_key`" in page


def test_the_sign_up_schema_says_which_optional_fields_are_required() -> None:
    """Before, the OpenAPI document (and so /docs and the HTTP reference) showed `firstName`, `lastName` and
    `phoneNumber` as optional without a word, while sign-up refuses a body without them (400
    `invalid_input`) unless the second step is turned off."""
    fields = openapi_document()["components"]["schemas"]["RegisterRequest"]["properties"]
    for name in ("firstName", "lastName", "phoneNumber"):
        assert "Required unless `TWOSTEP_REQUIRE_SECOND_FACTOR=false`" in fields[name].get(
            "description", ""
        ), name


def test_the_abuse_page_gives_each_setting_its_default() -> None:
    """Before, the fraud guard's "settings (default)" column gave examples as if they were defaults: a safe
    list of `+4915112345678,+49151`, a German country budget and a price table, where all three are empty."""
    page = (ROOT / "docs/abuse-protection.md").read_text()
    table = page[page.index("| rule | answer | settings (default) |") :].split("\n\n", 1)[0]
    checked = 0
    for name, shown in re.findall(r"`TWOSTEP_([A-Z0-9_]+)` \(([^)]*)\)", table):
        default = Settings.model_fields[name.lower()].get_default(call_default_factory=True)
        value = shown.split(";")[0].split(":")[0].strip()
        if value in ("empty", "on", "off"):
            assert default == {"empty": [], "on": True, "off": False}[value], (name, shown, default)
        elif value.startswith("`"):
            assert value.strip("`") == ",".join(default), (name, shown, default)
        else:
            assert float(value) == float(default), (name, shown, default)
        checked += 1
    assert checked >= 12, checked


def test_the_verification_page_tells_twilio_verify_clients_which_dialects_exist() -> None:
    """A customer coming from Twilio Verify found nothing saying that no mode answers Twilio's shapes
    (form bodies, Basic auth, a wrong code as 200 `pending`, 60202/20404): the page now says which
    `TWOSTEP_VERIFY_COMPAT` values there are, and it must change when the settings gain one."""
    page = " ".join((ROOT / "docs/verification-api.md").read_text().split())
    dialects = Settings.model_fields["verify_compat"].annotation.__args__  # type: ignore[union-attr]
    named = " and ".join(f"`{dialect}`" for dialect in dialects)
    assert (
        f"## Coming from Twilio Verify twostep has no Twilio Verify dialect: `TWOSTEP_VERIFY_COMPAT` knows {named} only"
        in page
    )
    for twilio, ours in (
        ("60202", "410 `InvalidAuthCode`"),
        ("20404", "410 `ExpiredAuthCode`"),
        ("`Status=canceled`", "`DELETE /verifications?auth_id=…`"),
    ):
        row = next(row for row in page.split(" | |") if twilio in row)
        assert ours in row, f"the Twilio Verify table maps {twilio} to {ours}"
