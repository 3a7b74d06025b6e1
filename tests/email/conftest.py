"""Fixtures for the e-mail provider tests: the local provider servers of the SMS tests (SES's HTTP API)."""

from tests.sms.provider_server import aws_answering, start_server  # noqa: F401  (the fixtures, for the tests here)
