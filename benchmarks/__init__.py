"""Benchmarks: scripts that print measured figures (`python -m benchmarks.<name>`)."""
