"""The HTTP edge: FastAPI app, schemas, error mapping."""
