"""Phone squatting: an unproven claim never blocks the number's real owner."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register, sign_in
from twostep.container import Container


def test_the_real_owner_registers_and_signs_in_with_a_squatted_number(
    client: TestClient, container: Container
) -> None:
    register(client, "squatter@example.com")  # the squatter claims the victim's number first
    register(client, "owner@example.com")  # no 409: the claim was never proven
    tokens = sign_in(client, container, "owner@example.com")  # the code reaches the owner's phone
    me = client.get("/me", headers={"Authorization": f"Bearer {tokens['accessToken']}"}).json()
    assert me["phoneVerified"] is True and me["phoneNumber"] == "+90********55"
    # The squatter's claim was dropped: no more codes to the owner's phone for the squatter.
    squatter = client.post("/login", json={"email": "squatter@example.com", "password": PASSWORD})
    assert squatter.status_code == 403 and squatter.json()["code"] == "second_factor_required"
    late = client.post(
        "/register",
        json={
            "email": "late@example.com",
            "password": PASSWORD,
            "firstName": "L",
            "lastName": "T",
            "phoneNumber": PHONE,
        },
    )
    assert late.status_code == 409  # a proven number stays unique
