"""Probabilistic matching of person records: a Fellegi–Sunter model trained without labels.

Splink (the Ministry of Justice's open-source linker) does the work on its own in-memory
DuckDB: it learns how much each kind of agreement says about two records being one person
(m and u probabilities, hence match weights) from the records themselves, u by random
sampling and m by expectation maximisation, then scores every pair its blocking rules
let through. We chose it over writing our own because it is the reference implementation
of the model, is maintained, and runs on the DuckDB we already ship.

`match_people` takes one row per record with the columns in `MATCH_COLUMNS` and returns the
pairs whose match probability reaches the threshold, each with its match weight and the
comparison level (and the weight it added) of every field, so a person can read why two
records were linked. The deterministic identifiers (same email, phone, CRM id, login) are
applied elsewhere and win; this adds the links they cannot see.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import duckdb
import jellyfish
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

MATCH_COLUMNS = (
    "record_id",
    "first_name",
    "last_name",
    "birth_date",
    "city",
    "postcode",
    "email",
    "phone_e164",
)

# Below this many records EM has too few pairs to learn from; the deterministic rules
# still link what they can.
MIN_RECORDS = 50

# The documented default of `MAILPIPE_IDENTITY_MATCH_THRESHOLD`.
DEFAULT_THRESHOLD = 0.95

# Pairs of random records u is estimated from. Each costs about 20 string comparisons; 1e5
# estimates a u down to 1e-4 from a hundred pairs and takes seconds at any size of input.
U_SAMPLE_PAIRS = 1e5
# Match weights are learned on at most this many records drawn at random (pairs within a
# block grow with its square, so EM on a million records costs ten times this for little
# gain); every record is then scored with them.
TRAINING_RECORDS = 300_000
# A candidate-pair rule whose blocks hold too many records compares each with all the others
# in its block: names from a small pool (a demo's 50 first names × 50 last names) gave
# ("first_name", "last_name") 139M pairs at 880k records, thirteen minutes of scoring for
# pairs that are mostly different people. A rule above this many pairs per record is left
# out; the others still meet every duplicate that shares a birth date, a postcode, a city,
# an email or a phone with its original.
MAX_PAIRS_PER_RECORD = 20


@dataclass(frozen=True)
class MatchResult:
    pairs: pd.DataFrame
    skipped_reason: str | None = None
    # rule (its columns joined by "+") -> candidate pairs, for each rule left out as too big
    skipped_blocks: dict[str, int] = field(default_factory=dict)


def _phonetic(names: pd.Series) -> pd.Series:
    """Metaphone codes, computed once per distinct name (names repeat a lot)."""
    distinct = names.dropna().unique()
    codes = {name: jellyfish.metaphone(name) or None for name in distinct}
    return names.map(codes)


def _normalize(records: pd.DataFrame) -> pd.DataFrame:
    """Trimmed lower-case text, ISO birth dates, the pair of initials: what decides which
    fields the data has."""
    frame = records.loc[:, list(MATCH_COLUMNS)].copy()
    for column in ("first_name", "last_name", "city", "postcode", "email", "phone_e164"):
        text = frame[column].astype("string").str.strip().str.lower()
        frame[column] = text.where(text != "", None)
    birth = frame["birth_date"]
    frame["birth_date"] = (
        pd.to_datetime(birth, errors="coerce").dt.strftime("%Y-%m-%d").astype("string")
    )
    frame["record_id"] = frame["record_id"].astype("string")
    first, last = frame["first_name"].str.slice(0, 1), frame["last_name"].str.slice(0, 1)
    low = first.where(first <= last, last)
    high = last.where(first <= last, first)
    frame["initials"] = (low + high).astype("string")
    return frame


def _prepare(records: pd.DataFrame) -> pd.DataFrame:
    """The normalized records with their phonetic codes, as Splink reads them, in record id
    order: the warehouse returns rows in any order, and the training sample must not
    depend on it."""
    frame = _normalize(records).sort_values("record_id", kind="stable", ignore_index=True)
    frame["first_name_sound"] = _phonetic(frame["first_name"])
    frame["last_name_sound"] = _phonetic(frame["last_name"])
    return frame.astype(object).where(frame.notna(), None)


# Comparisons and the columns each needs; a column that no two records fill is left out.
COMPARED = {
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "birth_date": ("birth_date",),
    "city": ("city",),
    "postcode": ("postcode",),
    "email": ("email",),
    "phone_e164": ("phone_e164",),
}
# Candidate pairs: two records are compared when they agree on one of these. Each is sized
# to stay small at millions of records: a birth date alone would put 40 people in a block
# at a million records; with the pair of initials (in either order, so swapped names still
# meet) about one.
PREDICTION_BLOCKS = (
    ("birth_date", "initials"),
    ("first_name", "last_name"),
    ("last_name_sound", "postcode"),
    ("first_name_sound", "last_name_sound", "city"),
    ("last_name", "postcode"),
    ("first_name", "postcode"),
    ("birth_date", "postcode"),
    ("birth_date", "city"),
    ("email",),
    ("phone_e164",),
)
# EM learns m for the comparisons outside its blocking rule, so it runs twice on different
# fields: the first two of these that the data has.
TRAINING_BLOCKS = (
    ("birth_date", "initials"),
    ("first_name", "last_name"),
    ("email",),
    ("phone_e164",),
    ("postcode", "initials"),
    ("city", "initials"),
)
# Rules that almost never join two different people, for the prior.
NEAR_CERTAIN_BLOCKS = (("first_name", "last_name", "birth_date"), ("email",), ("phone_e164",))


def _present(frame: pd.DataFrame) -> set[str]:
    return {c for c in frame.columns if frame[c].notna().sum() >= 2}


def candidate_pairs(frame: pd.DataFrame, columns: tuple[str, ...]) -> int:
    """How many pairs a blocking rule on `columns` makes: records agreeing on every one of
    them, none missing."""
    keys = frame.loc[frame[list(columns)].notna().all(axis=1), list(columns)]
    with duckdb.connect() as conn:
        conn.register("keyed", keys)
        grouped = ", ".join(f'"{c}"' for c in columns)
        return int(
            conn.execute(
                f"select coalesce(sum(n * (n - 1) // 2), 0) from"
                f" (select count(*) as n from keyed group by {grouped})"
            ).fetchone()[0]
        )


def _prediction_blocks(frame: pd.DataFrame, present: set[str]):
    """The rules that generate candidate pairs, and those left out as too big, with their
    pair counts."""
    limit = MAX_PAIRS_PER_RECORD * len(frame)
    kept, skipped = [], {}
    for columns in PREDICTION_BLOCKS:
        if not set(columns) <= present:
            continue
        pairs = candidate_pairs(frame, columns)
        if pairs > limit:
            skipped["+".join(columns)] = pairs
        else:
            kept.append(columns)
    return kept, skipped


def _settings(present: set[str], blocks=None):
    import splink.comparison_level_library as cll
    from splink import SettingsCreator, block_on
    from splink.comparison_library import CustomComparison

    def name(column: str, other: str) -> CustomComparison:
        return CustomComparison(
            output_column_name=column,
            comparison_levels=[
                cll.NullLevel(column),
                cll.ExactMatchLevel(column).configure(tf_adjustment_column=column),
                cll.CustomLevel(
                    f"{column}_l = {other}_r and {other}_l = {column}_r",
                    label_for_charts="swapped with the other name",
                ),
                cll.JaroWinklerLevel(column, 0.92),
                cll.JaroWinklerLevel(column, 0.88),
                cll.CustomLevel(
                    f"{column}_sound_l = {column}_sound_r", label_for_charts="sounds alike"
                ),
                cll.JaroWinklerLevel(column, 0.7),
                cll.ElseLevel(),
            ],
        )

    birth_date = CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(
                "substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4)"
                " and substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2)"
                " and substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2)",
                label_for_charts="day and month transposed",
            ),
            cll.DamerauLevenshteinLevel("birth_date", 1),
            cll.LevenshteinLevel("birth_date", 2),
            cll.ElseLevel(),
        ],
    )

    def edits(column: str) -> CustomComparison:
        return CustomComparison(
            output_column_name=column,
            comparison_levels=[
                cll.NullLevel(column),
                cll.ExactMatchLevel(column).configure(tf_adjustment_column=column),
                cll.DamerauLevenshteinLevel(column, 1),
                cll.LevenshteinLevel(column, 2),
                cll.ElseLevel(),
            ],
        )

    email = CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email"),
            cll.ExactMatchLevel("email"),
            cll.CustomLevel(
                "split_part(email_l, '@', 1) = split_part(email_r, '@', 1)",
                label_for_charts="same local part",
            ),
            # Addresses are often built from the name, so similar ones say little beyond
            # the names; and the number in them is what tells namesakes apart. A typo is one
            # edit that leaves the digits alone.
            cll.CustomLevel(
                "damerau_levenshtein(email_l, email_r) <= 1"
                " and regexp_replace(email_l, '[^0-9]', '', 'g')"
                " = regexp_replace(email_r, '[^0-9]', '', 'g')",
                label_for_charts="one typo apart, same digits",
            ),
            cll.ElseLevel(),
        ],
    )

    phone = CustomComparison(
        output_column_name="phone_e164",
        comparison_levels=[
            cll.NullLevel("phone_e164"),
            cll.ExactMatchLevel("phone_e164"),
            cll.CustomLevel(
                "right(phone_e164_l, 7) = right(phone_e164_r, 7)",
                label_for_charts="same last 7 digits",
            ),
            cll.ElseLevel(),
        ],
    )

    comparisons = {
        "first_name": name("first_name", "last_name"),
        "last_name": name("last_name", "first_name"),
        "birth_date": birth_date,
        "city": edits("city"),
        "postcode": edits("postcode"),
        "email": email,
        "phone_e164": phone,
    }
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[c for key, c in comparisons.items() if set(COMPARED[key]) <= present],
        blocking_rules_to_generate_predictions=[
            block_on(*columns)
            for columns in (PREDICTION_BLOCKS if blocks is None else blocks)
            if set(columns) <= present
        ],
        retain_intermediate_calculation_columns=True,
    )


def untrainable_reason(records: pd.DataFrame) -> str | None:
    """Why match weights cannot be learned from `records`, or None if they can."""
    return _untrainable(_normalize(records))


def _untrainable(frame: pd.DataFrame) -> str | None:
    if len(frame) < MIN_RECORDS:
        return f"{len(frame)} records, fewer than {MIN_RECORDS}: too few to learn match weights"
    present = _present(frame)
    if len([b for b in TRAINING_BLOCKS if set(b) <= present]) < 2:
        fields = ", ".join(sorted(present & set(COMPARED))) or "no field"
        return f"only {fields} to compare: too little to learn match weights"
    return None


def match_people(records: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD) -> MatchResult:
    """Score candidate pairs of `records` and keep those at or above `threshold`."""
    frame = _prepare(records)
    reason = _untrainable(frame)
    if reason:
        return MatchResult(_empty_pairs(), reason)
    from splink import DuckDBAPI, Linker, block_on

    present = _present(frame)
    blocks, skipped_blocks = _prediction_blocks(frame, present)
    for rule, pairs in skipped_blocks.items():
        logger.warning(
            "identity matching leaves out the candidate rule %s: %s pairs for %s records"
            " (more than %s per record)",
            rule,
            f"{pairs:,}",
            f"{len(frame):,}",
            MAX_PAIRS_PER_RECORD,
        )
    if not blocks:
        # Splink with no rule would compare every record with every other.
        return MatchResult(
            _empty_pairs(),
            f"every candidate rule makes more than {MAX_PAIRS_PER_RECORD} pairs per record",
            skipped_blocks,
        )
    training_blocks = [b for b in TRAINING_BLOCKS if set(b) <= present][:2]
    near_certain = [b for b in NEAR_CERTAIN_BLOCKS if set(b) <= present] or training_blocks
    splink_logger = logging.getLogger("splink")
    level = splink_logger.level
    # Splink logs every level EM could not observe; the pairs and the caller's metadata say
    # what matters.
    splink_logger.setLevel(logging.ERROR)
    try:
        sample = (
            frame.sample(TRAINING_RECORDS, random_state=1)
            if len(frame) > TRAINING_RECORDS
            else frame
        )
        with duckdb.connect() as conn:
            trainer = Linker(
                sample,
                _settings(present, blocks),
                DuckDBAPI(connection=conn),
                set_up_basic_logging=False,
            )
            trainer.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=1)
            for block in training_blocks:
                trainer.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*block), estimate_without_term_frequencies=True
                )
            trained = trainer.misc.save_model_to_json()
        with duckdb.connect() as conn:
            linker = Linker(frame, trained, DuckDBAPI(connection=conn), set_up_basic_logging=False)
            # The prior depends on how many records there are: estimated on all of them.
            linker.training.estimate_probability_two_random_records_match(
                [block_on(*b) for b in near_certain], recall=0.7
            )
            predictions = linker.inference.predict(threshold_match_probability=threshold)
            scored = predictions.as_pandas_dataframe()
            levels = _level_labels(linker)
    except Exception as error:  # noqa: BLE001 — the deterministic links still stand
        if not _is_untrainable(error):
            raise
        first_sentence = str(error).strip().split(". ")[0]
        return MatchResult(_empty_pairs(), f"could not learn match weights: {first_sentence}")
    finally:
        splink_logger.setLevel(level)
    return MatchResult(_explain(scored, levels), skipped_blocks=skipped_blocks)


def _is_untrainable(error: Exception) -> bool:
    from splink.internals.exceptions import SplinkException

    return isinstance(error, SplinkException | ZeroDivisionError)


def _level_labels(linker) -> dict[str, dict[int, str]]:
    labels: dict[str, dict[int, str]] = {}
    for comparison in linker._settings_obj.comparisons:
        labels[comparison.output_column_name] = {
            level.comparison_vector_value: level.label_for_charts
            for level in comparison.comparison_levels
        }
    return labels


def _empty_pairs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id_a": pd.Series(dtype="string"),
            "record_id_b": pd.Series(dtype="string"),
            "match_probability": pd.Series(dtype="float64"),
            "match_weight": pd.Series(dtype="float64"),
            "comparison_levels": pd.Series(dtype="string"),
        }
    )


def _explain(scored: pd.DataFrame, levels: dict[str, dict[int, str]]) -> pd.DataFrame:
    """One line per field: its comparison level and the match weight it added (log2 of its
    Bayes factor, term-frequency adjustment included), the reading of a waterfall chart."""
    if scored.empty:
        return _empty_pairs()
    parts = []
    for column, labels in levels.items():
        gamma = scored[f"gamma_{column}"]
        factor = scored[f"bf_{column}"].astype(float)
        if f"bf_tf_adj_{column}" in scored:
            factor = factor * scored[f"bf_tf_adj_{column}"].astype(float).fillna(1.0)
        weight = pd.Series(np.log2(factor.where(factor > 0, 1.0).fillna(1.0)), index=factor.index)
        parts.append(
            column
            + ": "
            + gamma.map(labels).fillna("?")
            + " ("
            + weight.map(lambda w: f"{w:+.1f}")
            + ")"
        )
    explanation = parts[0]
    for part in parts[1:]:
        explanation = explanation + "; " + part
    first = scored["record_id_l"].astype("string")
    second = scored["record_id_r"].astype("string")
    return pd.DataFrame(
        {
            "record_id_a": first.where(first < second, second),
            "record_id_b": second.where(first < second, first),
            "match_probability": scored["match_probability"].astype(float),
            "match_weight": scored["match_weight"].astype(float),
            "comparison_levels": explanation.astype("string"),
        }
    )
