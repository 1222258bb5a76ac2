"""Dagster assets, one module per stage: raw tables, dbt models, customer models (ML),
email sends and reports."""
