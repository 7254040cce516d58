"""Comparison reports (Markdown + HTML), plots and sample grids built from benchmark tables."""
