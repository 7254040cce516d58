"""Command-line entry points of the library."""
