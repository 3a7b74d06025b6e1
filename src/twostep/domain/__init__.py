"""The pure core: models, errors, ports and the rules of codes, passwords and tokens."""
