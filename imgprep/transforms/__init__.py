"""Transforms shared by every subcommand and the Python API."""
