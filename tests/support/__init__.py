"""Helpers shared by the integration suites."""
