"""Benchmarks that measure the numbers of BRIEF section 5, each a module with ``run() -> dict``."""
