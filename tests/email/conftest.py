"""Fixtures for the e-mail provider tests: the local provider servers of the SMS tests (SES's HTTP API)."""

from tests.sms.provider_server import start_server  # noqa: F401  (the fixture, for the tests here)
