# twostep as a container: `docker build -t twostep .`, then see compose.yaml (PostgreSQL) or run it
# alone with SQLite in the /var/lib/twostep volume. Checked by tests/functional/test_container.py
# (hadolint, and these install and start steps in a clean virtualenv).

# --- build: install twostep and its dependencies into a virtualenv ---
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/twostep
# A C compiler for libargon2's vector builds (setup.py: about half the CPU per password check); the run
# stage takes only the virtualenv. The compiler is whatever Debian ships for this base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY native ./native
COPY src ./src
RUN /opt/twostep/bin/pip install --no-compile .

# --- run: the virtualenv only, as an unprivileged user ---
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 twostep \
    && useradd --system --uid 10001 --gid twostep --home-dir /var/lib/twostep --create-home twostep
COPY --from=build /opt/twostep /opt/twostep
ENV PATH=/opt/twostep/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TWOSTEP_STAGE=prod \
    TWOSTEP_SQLITE_PATH=/var/lib/twostep/twostep.db
WORKDIR /var/lib/twostep
VOLUME ["/var/lib/twostep"]
USER 10001:10001
EXPOSE 8000
# Ready = storage answers and takes a write (GET /healthz/ready); python is in the image, curl is not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz/ready', timeout=4).status != 200)"]
# prod needs TWOSTEP_MASTER_KEY (or TWOSTEP_MASTER_KEY_FILE, a mounted secret): it seals the keys in the database.
# prod also refuses the console email provider: set TWOSTEP_EMAIL_PROVIDER=smtp (TWOSTEP_SMTP_HOST, …) or ses.
# Behind a proxy or load balancer, set TWOSTEP_TRUSTED_PROXIES to its address so X-Forwarded-For counts.
CMD ["twostep", "serve", "--host", "0.0.0.0", "--port", "8000"]
