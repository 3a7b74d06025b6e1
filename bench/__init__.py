"""Benchmarks: twostep against its limits, in one run, every figure a ratio to a same-run baseline."""
