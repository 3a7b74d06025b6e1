"""The HTTP edge: FastAPI app, schemas, error mapping."""

from twostep.api.pydantic_v1_check import skip_needless_pydantic_v1_import

skip_needless_pydantic_v1_import()  # before any route is declared; see pydantic_v1_check
