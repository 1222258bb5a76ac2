"""The pipeline around the warehouse: Dagster declarations and the stage packages they call.

- `assets/`, `checks.py`, `jobs.py`, `sensors.py`, `resources.py`, `definitions.py`: what
  the Dagster UI shows; each asset calls into one stage package.
- `ingest/`: the landing contract, the loader and load anomalies (the `raw` group).
- `identity/`: probabilistic matching of CRM records (Splink), run by a dbt Python model;
  the identity asset's explanations; evaluation against ground truth and FEBRL.
- `segments/`: the YAML segment rules and their compiler, used by dbt's segment models and
  by campaign audiences.
- `sends/`: the send audience, planning with guards and caps, the exactly-once export with
  its worker pool, previews, SMTP delivery and journey state (the `email` group).
- `privacy/`: identifiers and their hashes, suppression, erasure, access, retention.
- `reporting/`: the campaign report page.
- `quality.py` (Great Expectations suites), `warehouse.py` (shared warehouse reads),
  `ml_io.py` (what the ML assets read and write), `settings.py` (the only reader of the
  environment), `cli.py`.
- `demo/`: the demo data generator; never used by a production run.
"""
