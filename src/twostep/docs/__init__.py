"""Reference pages generated from the code itself (settings, CLI, HTTP API) for the docs site."""
