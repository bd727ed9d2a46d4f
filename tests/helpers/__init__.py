"""Helpers shared by every test area (golden fixtures, ...)."""
