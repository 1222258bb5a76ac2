"""Personalized email rendering and export. No Dagster here."""
