"""Benchmarks: scripts that print our figures beside a baseline in one run."""
