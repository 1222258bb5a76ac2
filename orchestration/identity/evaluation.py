"""Identity resolution measured against ground truth: the demo generator's, or a public
benchmark's (tests and the `evaluate-identity` command read it; the pipeline never does).
Ground truth is a `records.csv` of source_table, record_id and person_key.

Pairwise: of all pairs of records the pipeline put in one profile, the share that are truly
one person (precision); of all pairs that are truly one person, the share the pipeline put
together (recall). Some records carry nothing another record could share: a browser that
never logged in or identified has only its own cookie id. The recall ceiling is the recall
of a resolver that linked every other record of each person and none of those."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class PairwiseScores:
    precision: float
    recall: float
    records: int
    records_missing: int
    predicted_pairs: int
    true_pairs: int
    correct_pairs: int
    records_without_identifiers: int
    recall_ceiling: float


def identity_scores(
    conn: duckdb.DuckDBPyConnection, ground_truth_dir: Path, include_missing: bool = False
) -> PairwiseScores:
    """Pairwise scores over the ground truth's records that reached the warehouse; with
    `include_missing`, over all of them, a record the warehouse does not have (quarantined
    at load) counting as a profile of its own, so its pairs are misses."""
    truth = str(ground_truth_dir / "records.csv")
    row = conn.execute(
        """
        with truth as (
            select distinct source_table, record_id, person_key from read_csv(?, all_varchar = true)
        ),
        joined as (
            select
                links.person_id is null as is_missing,
                coalesce(links.person_id, 'missing:' || truth.source_table || ':' || truth.record_id)
                    as person_id,
                truth.person_key
            from truth
            left join marts.identity_links as links using (source_table, record_id)
            where ? or links.person_id is not null
        ),
        -- A browser's cookie id belongs to that browser alone.
        own_identifiers as (
            select record_key
            from intermediate.int_identifiers_extracted
            group by record_key
            having bool_and(link_rule in ('record', 'anonymous id'))
        ),
        reachable as (
            select
                case
                    when links.person_id is null or own.record_key is not null
                        then truth.source_table || ':' || truth.record_id
                    else ''
                end as alone,
                truth.person_key
            from truth
            left join marts.identity_links as links using (source_table, record_id)
            left join own_identifiers as own on links.record_key = own.record_key
            where ? or links.person_id is not null
        ),
        reachable_groups as (select count(*) as n from reachable group by person_key, alone),
        predicted as (select count(*) as n from joined group by person_id),
        actual as (select count(*) as n from joined group by person_key),
        correct as (select count(*) as n from joined group by person_id, person_key)
        select
            (select count(*) from joined),
            (select count(*) from joined where is_missing),
            (select coalesce(sum(n * (n - 1) / 2), 0) from predicted),
            (select coalesce(sum(n * (n - 1) / 2), 0) from actual),
            (select coalesce(sum(n * (n - 1) / 2), 0) from correct),
            (select count(*) from reachable where alone != ''),
            (select coalesce(sum(n * (n - 1) / 2), 0) from reachable_groups)
        """,
        [truth, include_missing, include_missing],
    ).fetchall()[0]
    records, missing, predicted, actual, correct, alone, reachable = (int(v) for v in row)
    return PairwiseScores(
        precision=correct / predicted if predicted else 1.0,
        recall=correct / actual if actual else 1.0,
        records=records,
        records_missing=missing,
        predicted_pairs=predicted,
        true_pairs=actual,
        correct_pairs=correct,
        records_without_identifiers=alone,
        recall_ceiling=reachable / actual if actual else 1.0,
    )
