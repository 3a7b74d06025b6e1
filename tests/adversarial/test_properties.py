"""Property tests for the domain: codes, submitted codes, phone numbers, email addresses, access tokens, and
password spellings, language tags, and the names a User-Agent is reduced to."""

from __future__ import annotations

import base64
import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime
from functools import cache

import phonenumbers
import pytest
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.adversarial.fuzz_settings import BUDGETS, examples
from twostep.domain.clock import FixedClock
from twostep.domain.errors import InvalidInput, InvalidToken
from twostep.domain.identity import normalise_email, parse_phone
from twostep.domain.keys import Algorithm, SigningKey, generate_signing_key
from twostep.domain.locales import LOCALE_TAG, accepted_languages, normalise_locale
from twostep.domain.models import RequestContext
from twostep.domain.otp import generate_code, normalise_submitted_code
from twostep.domain.password_spelling import NFKC_MARK, Verified
from twostep.domain.passwords import PasswordHasher
from twostep.domain.texts import EmailKind
from twostep.domain.tokens import TokenIssuer, TokenVerifier
from twostep.services.client_description import client_label, describe_client, name_client
from twostep.services.notice_origin import NoticeOrigin, origin_block

# Chi-square critical value for 9 degrees of freedom at p = 1e-6 (27.88 is p = 0.001). The stricter
# level keeps a correct generator from failing one run in a thousand, and still catches a missing or
# doubled digit (an off-by-one like Flowroute sms-verification's gives a statistic in the thousands).
CHI2_9DOF_P1E6 = 44.81
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def chi_square(counts: Counter[str], total: int) -> float:
    expected = total / 10
    return sum((counts.get(str(digit), 0) - expected) ** 2 / expected for digit in range(10))


def test_code_digits_are_uniform_in_every_position() -> None:
    """O1: 20,000 six-digit codes (120,000 digits) from the CSPRNG: uniform overall and per position."""
    codes = [generate_code(6) for _ in range(20_000)]
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    overall = Counter("".join(codes))
    assert chi_square(overall, 120_000) < CHI2_9DOF_P1E6, overall
    for position in range(6):
        column = Counter(code[position] for code in codes)
        assert chi_square(column, 20_000) < CHI2_9DOF_P1E6, (position, column)


def test_leading_zeros_are_kept_and_repeats_are_only_birthday_collisions() -> None:
    """No leading-zero suppression (a tenth of codes start with 0), and repeats no more often than chance."""
    codes = [generate_code(6) for _ in range(20_000)]
    leading_zero = sum(code.startswith("0") for code in codes)
    assert 1_600 < leading_zero < 2_400  # expected 2,000, standard deviation 42
    repeats = len(codes) - len(set(codes))
    assert repeats < 400  # expected about 200 (n^2 / 2N), standard deviation about 14


@pytest.mark.parametrize("budget", BUDGETS)
def test_codes_have_the_fixed_length(budget: str) -> None:
    @examples(budget, ci=200, long=5_000)
    @given(st.integers(min_value=4, max_value=10))
    def check(length: int) -> None:
        code = generate_code(length)
        assert len(code) == length and code.isascii() and code.isdigit()

    check()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)


@pytest.mark.parametrize("budget", BUDGETS)
def test_submitted_code_is_digits_or_invalid_input(budget: str) -> None:
    """Whatever JSON arrives as `otp`, the result is 1-10 ASCII digits or InvalidInput, nothing else."""

    @examples(budget, ci=500, long=20_000)
    @given(json_values, st.integers(min_value=4, max_value=10))
    def check(raw: object, length: int) -> None:
        try:
            code = normalise_submitted_code(raw, length)
        except InvalidInput:
            return
        assert code.isascii() and code.isdigit() and 1 <= len(code) <= 10

    check()


@pytest.mark.parametrize("budget", BUDGETS)
def test_numeric_codes_are_left_padded(budget: str) -> None:
    """The Spring 2FA client sends the code as a JSON number: 1234 for "001234" must still match."""

    @examples(budget, ci=300, long=10_000)
    @given(st.data(), st.integers(min_value=4, max_value=10))
    def check(data: st.DataObject, length: int) -> None:
        number = data.draw(st.integers(min_value=0, max_value=10**length - 1))
        assert normalise_submitted_code(number, length) == f"{number:0{length}d}"
        assert normalise_submitted_code(f" {number:0{length}d} ", length) == f"{number:0{length}d}"

    check()


@cache
def example_numbers() -> list[str]:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if example is not None:
            numbers.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return numbers


phone_like = st.from_regex(r"\A[+ 0-9()\-.\r\n\t\x00]{0,40}\Z")
unicode_text = st.text(max_size=60)


def _formatted(e164: str, style: int) -> str:
    number = phonenumbers.parse(e164, None)
    formats = [
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.RFC3966,
    ]
    text = phonenumbers.format_number(number, formats[style % 3])
    return text.removeprefix("tel:").split(";")[0]


@pytest.mark.parametrize("budget", BUDGETS)
def test_phone_parsing_only_raises_its_own_error_and_yields_e164(budget: str) -> None:
    """V2: any text is either refused with InvalidPhoneNumber or becomes E.164 without CR/LF."""

    @examples(budget, ci=500, long=20_000)
    @given(st.one_of(unicode_text, phone_like))
    def check(raw: str) -> None:
        try:
            parsed = parse_phone(raw)
        except InvalidInput:  # InvalidPhoneNumber is its subclass
            return
        assert E164.match(parsed), parsed
        assert parse_phone(parsed) == parsed

    check()


@pytest.mark.parametrize("budget", BUDGETS)
def test_real_numbers_parse_to_the_same_e164_in_any_format(budget: str) -> None:
    @examples(budget, ci=200, long=5_000)
    @given(
        st.sampled_from(example_numbers()),
        st.integers(min_value=0, max_value=2),
        st.sampled_from(["", " ", "\t"]),
    )
    def check(e164: str, style: int, padding: str) -> None:
        assert parse_phone(padding + _formatted(e164, style) + padding) == e164

    check()


emailish = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.text(min_size=1, max_size=30),
    st.text(min_size=1, max_size=30),
    st.text(min_size=1, max_size=8),
)


@pytest.mark.parametrize("budget", BUDGETS)
def test_email_normalisation_only_raises_invalid_input(budget: str) -> None:
    """Any text is refused with InvalidInput or becomes a bounded, lower-case, single-line address."""

    @examples(budget, ci=500, long=20_000)
    @given(st.one_of(unicode_text, emailish))
    def check(raw: str) -> None:
        try:
            email = normalise_email(raw)
        except InvalidInput:
            return
        assert "@" in email and len(email) <= 254
        assert not any(ch.isspace() or ord(ch) < 32 for ch in email)
        assert email == email.lower() and normalise_email(email) == email

    check()


@cache
def key_for(algorithm: Algorithm) -> SigningKey:
    return generate_signing_key(algorithm, NOW)


def issuer_and_verifier(algorithm: Algorithm) -> tuple[TokenIssuer, TokenVerifier]:
    key, clock = key_for(algorithm), FixedClock(NOW)
    common = {"issuer": "https://auth.example", "audience": "twostep-api", "clock": clock}
    issuer = TokenIssuer(
        kid=key.kid, algorithm=algorithm, key=key.signing_material, ttl_seconds=900, **common
    )  # type: ignore[arg-type]
    verifier = TokenVerifier(
        algorithm=algorithm,
        keys={key.kid: key.verification_material},
        leeway_seconds=30,
        **common,  # type: ignore[arg-type]
    )
    return issuer, verifier


ALGORITHMS: list[Algorithm] = ["RS256", "ES256", "EdDSA", "HS256"]
names = st.text(min_size=1, max_size=120)


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tokens_round_trip_any_subject_and_email(algorithm: Algorithm, budget: str) -> None:
    issuer, verifier = issuer_and_verifier(algorithm)

    @examples(budget, ci=60, long=2_000)
    @given(names, names, st.lists(st.text(max_size=10), max_size=4))
    def check(sub: str, email: str, amr: list[str]) -> None:
        token = issuer.issue(user_id=sub, email=email, amr=tuple(amr), sid="s1", auth_time=0)
        claims = verifier.verify(token)
        assert (claims.sub, claims.email, claims.amr) == (sub, email, tuple(amr))
        assert claims.exp - claims.iat == 900

    check()


def _segments(token: str) -> list[bytes]:
    return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")]


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_any_one_character_change_is_refused_or_changes_nothing(algorithm: Algorithm, budget: str) -> None:
    """J2: flip any character of a token. Either it is refused, or (base64's unused trailing bits) every
    segment still decodes to the very same bytes."""
    issuer, verifier = issuer_and_verifier(algorithm)
    token = issuer.issue(user_id="user-1", email="a@example.com", amr=("pwd", "sms"), sid="s1", auth_time=0)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "

    @examples(budget, ci=150, long=5_000)
    @given(st.integers(min_value=0, max_value=len(token) - 1), st.sampled_from(alphabet))
    def check(position: int, replacement: str) -> None:
        assume(token[position] != replacement)
        mutated = token[:position] + replacement + token[position + 1 :]
        try:
            verifier.verify(mutated)
        except InvalidToken:
            return
        assert _segments(mutated) == _segments(token)

    check()


BROWSER_NAMES = {"Edge", "Opera", "Firefox", "Chrome", "Chromium", "Safari"}
SYSTEM_NAMES = {"Android", "iOS", "iPadOS", "Windows", "macOS", "ChromeOS", "Linux"}
TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,30}$")
ORIGIN_LABELS: dict[EmailKind, str] = {
    "origin_time": "Time:",
    "origin_device": "Device:",
    "origin_network": "Network:",
    "origin_unknown": "unknown",
    "origin_administrator": "By an administrator.",
}
# Pieces of real agents, mixed with anything: the parser's markers must be met, not only missed.
agent_pieces = st.sampled_from(
    [
        "Mozilla/5.0",
        "(X11; Linux x86_64)",
        "Edg/126.0",
        "OPR/1",
        "Firefox/128.0",
        "Chrome/126.0.0.0",
        "Chromium/1",
        "Safari/537.36",
        "iPhone",
        "iPad",
        "Android 14",
        "Windows NT 10.0",
        "Mac OS X",
        "CrOS",
        "curl/8.5.0",
        "python-httpx/0.27",
        " ",
        "\t",
        "/",
        "1",
    ]
)
agents = st.one_of(
    st.none(),
    unicode_text,
    st.lists(st.one_of(agent_pieces, st.text(max_size=8)), max_size=8).map("".join),
)


@pytest.mark.parametrize("budget", BUDGETS)
def test_a_user_agent_is_only_ever_reduced_to_known_names(budget: str) -> None:
    """Whatever a client sends as User-Agent, the session and device lists and a notice's email show a
    browser and a system from the parser's own lists, or a short tool name: never the agent's other text
    (a line break, a link, a lie about the account), and the notice's end keeps its three lines."""

    @examples(budget, ci=500, long=20_000)
    @given(agents, st.sampled_from([None, "203.0.113.7", "2001:db8:1:2::7", "fe80::1%eth0"]))
    def check(agent: str | None, ip: str | None) -> None:
        names = name_client(agent)
        assert names.browser in BROWSER_NAMES | {None}
        assert names.system in SYSTEM_NAMES | {None}
        if names.tool is not None:
            assert names.browser is None and names.system is None
            assert TOOL_NAME.match(names.tool), names.tool
        label = client_label(agent)
        if label is not None:
            assert re.fullmatch(r"[A-Za-z0-9._ -]{1,60}", label), label
        described = describe_client(agent)
        if agent is None or not agent.strip():
            assert described is None
        else:
            assert described == (label or "Unknown client")
        origin = NoticeOrigin.of(RequestContext(ip=ip, user_agent=agent), NOW)
        lines = origin_block(origin, ORIGIN_LABELS).split("\n")
        assert [line.split(" ", 1)[0] for line in lines] == ["Time:", "Device:", "Network:"], lines

    check()


# Cheap Argon2id parameters (the property is about spellings, not cost); the earlier hashes, made before
# the NFKC mark, were argon2-cffi's own strings of the NFC spelling.
cheap_hasher = cache(lambda: PasswordHasher(memory_kib=64, time_cost=1))
earlier_hasher = cache(lambda: Argon2Hasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID))
# Compatibility characters (full-width letters, ligatures, superscripts, the square \u3300) and combining
# accents among plain letters: where NFC, NFD and NFKC spell a password differently.
password_text = st.text(
    st.one_of(
        st.sampled_from("aZ9 \uff41\uff3a\ufb01\u00b2\u2460\u3300\u0301\u0308\u00e9\u1e9b\u212b\u0130"),
        st.characters(codec="utf-8"),
    ),
    min_size=1,
    max_size=24,
)
FORMS = ("NFC", "NFD", "NFKC", "NFKD")


@pytest.mark.parametrize("budget", BUDGETS)
def test_a_password_matches_in_every_spelling_and_nothing_else_does(budget: str) -> None:
    """A hash stored now (marked NFKC) takes the password however it is typed (NFC, NFD, NFKC, NFKD) and
    refuses another; a hash made before the mark, of the NFC spelling, takes it too, and the hash stored in
    its place is marked and takes every spelling, as one check."""
    hasher = cheap_hasher()

    @examples(budget, ci=60, long=5_000)
    @given(password_text, password_text, st.sampled_from(FORMS))
    def check(password: str, other: str, form: str) -> None:
        typed = unicodedata.normalize(form, password)
        assume(unicodedata.normalize("NFKC", other) != unicodedata.normalize("NFKC", password))
        assume(unicodedata.normalize("NFC", other) != unicodedata.normalize("NFC", password))
        stored = hasher.hash(password)
        assert stored.startswith(NFKC_MARK + "$argon2id$")
        assert hasher.check(stored, typed) is Verified.YES
        assert hasher.check(stored, other) is Verified.NO
        earlier = earlier_hasher().hash(unicodedata.normalize("NFC", password))
        found = hasher.check(earlier, password)
        assert found in (Verified.UNMARKED, Verified.EARLIER_SPELLING), found
        assert hasher.check(earlier, other) is Verified.NO
        replaced = hasher.replacement(earlier, password, found)
        assert replaced.startswith(NFKC_MARK)
        assert hasher.check(replaced, typed) is Verified.YES

    check()


tag_like = st.from_regex(r"\A[A-Za-z0-9_ -]{0,20}\Z")
language_header = st.lists(
    st.tuples(
        st.one_of(tag_like, st.sampled_from(["de", "pt_br", "ZH-hant-tw", "*", "x"]), unicode_text),
        st.sampled_from(
            ["", ";q=0", ";q=0.5", ";q=1", ";q=nan", ";q=inf", ";q=-1", ";q=1e-400", ";Q=0.9", ";q="]
        ),
    ).map("".join),
    max_size=20,
).map(",".join)


@pytest.mark.parametrize("budget", BUDGETS)
def test_a_language_tag_is_canonical_or_refused_and_a_header_never_fails(budget: str) -> None:
    """A body's `locale` is a canonical tag (the same again when sent back) or InvalidInput naming it; any
    Accept-Language header gives at most 16 canonical tags and never an error."""

    @examples(budget, ci=500, long=20_000)
    @given(st.one_of(unicode_text, tag_like), language_header)
    def check(raw: str, header: str) -> None:
        try:
            tag = normalise_locale(raw)
        except InvalidInput as refused:
            assert refused.field == "locale"
        else:
            assert LOCALE_TAG.fullmatch(tag) and "_" not in tag and normalise_locale(tag) == tag, tag
            language, *subtags = tag.split("-")
            assert language == language.lower(), tag
            assert all(
                part == (part.upper() if len(part) == 2 else part.title())
                for part in subtags
                if len(part) in (2, 4)
            ), tag
        tags = accepted_languages(header)
        assert len(tags) <= 16
        assert all(normalise_locale(each) == each for each in tags), tags

    check()
