"""Identity resolution measured against the generator's ground truth (tests and the
`evaluate-identity` command read it; the pipeline never does).

Pairwise: of all pairs of records the pipeline put in one profile, the share that are truly
one person (precision); of all pairs that are truly one person, the share the pipeline put
together (recall)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class PairwiseScores:
    precision: float
    recall: float
    records: int
    predicted_pairs: int
    true_pairs: int
    correct_pairs: int


def identity_scores(conn: duckdb.DuckDBPyConnection, ground_truth_dir: Path) -> PairwiseScores:
    truth = str(ground_truth_dir / "records.csv")
    row = conn.execute(
        """
        with truth as (
            select distinct source_table, record_id, person_key from read_csv(?, all_varchar = true)
        ),
        joined as (
            select links.person_id, truth.person_key
            from marts.identity_links as links
            inner join truth using (source_table, record_id)
        ),
        predicted as (select count(*) as n from joined group by person_id),
        actual as (select count(*) as n from joined group by person_key),
        correct as (select count(*) as n from joined group by person_id, person_key)
        select
            (select count(*) from joined),
            (select coalesce(sum(n * (n - 1) / 2), 0) from predicted),
            (select coalesce(sum(n * (n - 1) / 2), 0) from actual),
            (select coalesce(sum(n * (n - 1) / 2), 0) from correct)
        """,
        [truth],
    ).fetchall()[0]
    records, predicted, actual, correct = (int(v) for v in row)
    return PairwiseScores(
        precision=correct / predicted if predicted else 1.0,
        recall=correct / actual if actual else 1.0,
        records=records,
        predicted_pairs=predicted,
        true_pairs=actual,
        correct_pairs=correct,
    )
