"""The `/hello` baseline: a bare FastAPI route doing the same RS256 token check with PyJWT, nothing else.

Served like twostep (uvicorn, one worker): `uvicorn bench.baseline_app:app`. Reads the public key PEM
path, issuer and audience from BENCH_KEY_PEM, BENCH_ISSUER and BENCH_AUDIENCE at start-up.
"""

from __future__ import annotations

import os

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import FastAPI, Header, HTTPException

with open(os.environ["BENCH_KEY_PEM"], "rb") as _handle:
    PUBLIC_KEY = load_pem_public_key(_handle.read())
ISSUER = os.environ["BENCH_ISSUER"]
AUDIENCE = os.environ["BENCH_AUDIENCE"]

app = FastAPI()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/hello")
def hello(authorization: str = Header(default="")) -> dict[str, str]:
    token = authorization.removeprefix("Bearer ").strip()
    try:
        claims = jwt.decode(token, PUBLIC_KEY, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    except jwt.PyJWTError as exc:
        raise HTTPException(status_code=401, detail="invalid token") from exc
    return {"message": f"Hello, {claims['email']}!"}
