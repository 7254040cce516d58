"""Benchmarks of the model: generation and understanding scorers, sample harnesses, result tables."""
