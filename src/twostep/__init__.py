"""twostep: sign-in with a password and a one-time code by SMS."""

__version__ = "0.1.0"
