"""Dagster-free building blocks the assets call: settings, landing contract, loader, demo data."""
