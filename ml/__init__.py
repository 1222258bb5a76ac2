"""Customer models: point-in-time features, propensity, recommendations. No Dagster here."""
