"""Benchmarks of the commander against public data and its own scenario suite."""
