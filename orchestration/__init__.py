"""Dagster code location and command line of the email personalization pipeline."""
