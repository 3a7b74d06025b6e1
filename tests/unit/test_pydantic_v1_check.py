"""The app is built without importing pydantic.v1, and FastAPI still refuses v1 models (`api.pydantic_v1_check`)."""

from __future__ import annotations

import warnings

import pytest
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import PydanticV1NotSupportedError

from tests.fresh_python import python_output
from twostep.api.pydantic_v1_check import skip_needless_pydantic_v1_import

BUILD = """
import sys
from fastapi.encoders import jsonable_encoder
from twostep.api.app import create_app
from twostep.api.verification_app import create_verification_app
from twostep.container import build
from twostep.settings import Settings
print("imported", "pydantic.v1" in sys.modules)
jsonable_encoder({"a": [1, "b"], "c": object.__new__(type("Plain", (), {"__iter__": lambda s: iter([])}))})
print("encoded", "pydantic.v1" in sys.modules)
"""


def test_the_app_modules_and_the_encoder_leave_pydantic_v1_unimported() -> None:
    assert python_output(BUILD).split() == ["imported", "False", "encoded", "False"]


def test_fastapi_still_refuses_v1_models_once_pydantic_v1_is_imported() -> None:
    skip_needless_pydantic_v1_import()  # idempotent: done by importing the route classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydantic import v1

    class Old(v1.BaseModel):
        name: str = "x"

    app = FastAPI()
    with pytest.raises(PydanticV1NotSupportedError):

        @app.get("/old", response_model=Old)
        def old() -> Old:
            return Old()

    with pytest.raises(PydanticV1NotSupportedError):
        jsonable_encoder(Old())
