"""What the identity_links asset tells a person in the Dagster UI: how records were linked,
and for the strongest and weakest accepted probabilistic links, a waterfall of match weights
(the prior, then what each field added, to the total)."""

from __future__ import annotations

import re

import duckdb
import pandas as pd

from orchestration.identity.probabilistic import MATCH_COLUMNS, untrainable_reason
from orchestration.warehouse import mask, table_exists

WEIGHT = re.compile(r"^(?P<field>[a-z_0-9]+): (?P<level>.*) \((?P<weight>[+-][0-9.]+)\)$")


def waterfall(comparison_levels: str, match_weight: float) -> list[tuple[str, str, float]]:
    """(step, level, weight) rows: the prior, each field, and the total they add up to."""
    steps = []
    for part in comparison_levels.split("; "):
        found = WEIGHT.match(part)
        if found:
            steps.append((found["field"], found["level"], float(found["weight"])))
    prior = match_weight - sum(weight for _, _, weight in steps)
    return [("prior", "two random records are one person", prior), *steps] + [
        ("total", "match weight", match_weight)
    ]


def _waterfall_markdown(link: pd.Series) -> str:
    rows = waterfall(link.comparison_levels, link.match_weight)
    table = pd.DataFrame(rows, columns=["step", "comparison level", "match weight"])
    table["match weight"] = table["match weight"].map(lambda w: f"{w:+.2f}")
    return (
        f"**{mask(link.customer_id_a)} ~ {mask(link.customer_id_b)}**, match probability "
        f"{link.match_probability:.4f}\n\n" + table.to_markdown(index=False)
    )


def identity_metadata(conn: duckdb.DuckDBPyConnection, threshold: float, links: int = 2) -> dict:
    """Counts by rule, merges, and waterfalls of the `links` strongest and weakest accepted
    probabilistic links; plain values and markdown, for the caller to wrap."""
    if not table_exists(conn, "marts", "identity_links"):
        return {}
    rules = conn.execute(
        """
        select rule, count(*) as records from (
            select unnest(string_split(linked_by, ', ')) as rule from marts.identity_links
        ) group by rule order by records desc
        """
    ).df()
    people = conn.execute("select count(distinct person_id) from marts.identity_links").fetchone()[
        0
    ]
    merged = (
        conn.execute("select count(*) from marts.identity_merges").fetchone()[0]
        if table_exists(conn, "marts", "identity_merges")
        else 0
    )
    matched = conn.execute(
        "select * from intermediate.int_crm_customers_matched order by match_weight desc"
    ).df()
    customers = conn.execute(
        f"select {', '.join(c if c != 'record_id' else 'customer_id as record_id' for c in MATCH_COLUMNS)}"
        " from staging.stg_crm__customers"
    ).df()
    reason = untrainable_reason(customers)
    metadata: dict = {
        "people": int(people),
        "records_by_rule": dict(zip(rules.rule, rules.records.astype(int), strict=True)),
        "person_ids_merged_so_far": int(merged),
        "match_threshold": threshold,
        "probabilistic_pairs_accepted": len(matched),
        "probabilistic_matching": (
            f"skipped: {reason}"
            if reason
            else f"trained on {len(customers):,} CRM records without labels (EM)"
        ),
    }
    if not matched.empty:
        strongest = [_waterfall_markdown(row) for _, row in matched.head(links).iterrows()]
        weakest = [_waterfall_markdown(row) for _, row in matched.tail(links).iloc[::-1].iterrows()]
        metadata["strongest_accepted_links"] = "\n\n".join(strongest)
        metadata["weakest_accepted_links"] = "\n\n".join(weakest)
    return metadata
