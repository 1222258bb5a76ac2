"""Loading landing files: the landing contract, the loader that holds it, load anomalies."""
