"""A code typed in another script's decimal digits (full-width from a Japanese IME, Arabic-Indic or
Persian from an Arabic keyboard) is the code: the sign-in reads it as the verification API does."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.functional.test_channel_amr import sent_code, start
from twostep.container import Container

FULL_WIDTH = {ord(str(digit)): chr(0xFF10 + digit) for digit in range(10)}
ARABIC_INDIC = {ord(str(digit)): chr(0x0660 + digit) for digit in range(10)}


@pytest.mark.parametrize("script", [FULL_WIDTH, ARABIC_INDIC], ids=["full-width", "arabic-indic"])
def test_the_sign_in_takes_the_right_code_in_any_scripts_digits(
    client: TestClient, container: Container, script: dict[int, str]
) -> None:
    """Before, `POST /otp/{id}/verify` answered 400 (not digits) to the right code so typed, and the
    person could not sign in; now it signs in."""
    otp_id = start(client)
    typed = sent_code(container).translate(script)
    assert not typed.isascii()

    verified = client.post(f"/otp/{otp_id}/verify", json={"otp": typed})

    assert verified.status_code == 200, verified.text
    assert verified.json()["accessToken"]


def test_a_wrong_code_in_another_script_counts_as_a_wrong_code(
    client: TestClient, container: Container
) -> None:
    """Folding makes it a code like any other: a wrong one is a wrong code (attempts left), not a 400."""
    otp_id = start(client)
    right = sent_code(container)
    wrong = f"{(int(right) + 1) % 10 ** len(right):0{len(right)}d}".translate(FULL_WIDTH)

    answer = client.post(f"/otp/{otp_id}/verify", json={"otp": wrong})

    assert answer.status_code == 401, answer.text
    assert client.post(f"/otp/{otp_id}/verify", json={"otp": right}).status_code == 200
