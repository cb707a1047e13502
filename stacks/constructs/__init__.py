"""Reusable constructs with secure defaults built in."""
