"""Use cases: framework-free services built once by the container and shared by every entry point."""
