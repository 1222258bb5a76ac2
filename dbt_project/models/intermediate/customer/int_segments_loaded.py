"""The segment library (YAML files in segments/) as a table: one row per segment.

A Python model because the rules live in YAML, not SQL; loading them validates every file,
and an invalid one fails this model naming file, segment and field."""

import json
from pathlib import Path

import pyarrow as pa


def model(dbt, session):
    from orchestration.segments.rules import load_segments

    segments = load_segments(Path(dbt.config.get("segments_dir")))
    return pa.table(
        {
            "segment_name": pa.array([s.name for s in segments], pa.string()),
            "description": pa.array([s.description for s in segments], pa.string()),
            "owner": pa.array([s.owner for s in segments], pa.string()),
            "min_size": pa.array([s.min_size for s in segments], pa.int64()),
            "max_share": pa.array([s.max_share for s in segments], pa.float64()),
            "rule_json": pa.array(
                [json.dumps(s.rule, sort_keys=True) for s in segments], pa.string()
            ),
            "source_file": pa.array([Path(s.source).name for s in segments], pa.string()),
        }
    )
