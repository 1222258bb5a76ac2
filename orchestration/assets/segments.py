"""Segment membership from the declarative segment library."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.checks import gx_check_result
from orchestration.lib import quality, segment_store, settings, warehouse
from orchestration.lib.segments import load_segments


@dg.asset(
    group_name="marts",
    deps=["dim_customers", "customer_scores"],
    kinds={"duckdb", "yaml"},
    check_specs=[
        dg.AssetCheckSpec(
            "segment_sizes_are_within_bounds",
            asset="customer_segments",
            description="GX: every segment has at least its min_size members and at most its max_share.",
        )
    ],
)
def customer_segments(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """Who is in each segment of the YAML segment library, and since when."""
    segments = load_segments(settings.segments_dir())
    with duckdb.get_connection() as conn:
        as_of = warehouse.as_of(conn)
        sizes = segment_store.materialize(conn, segments, as_of)
        rows = conn.execute("select count(*) from marts.customer_segments").fetchall()[0][0]
    small = sizes[sizes["members"] < sizes["min_size"]]
    for row in small.itertuples():
        context.log.warning(
            f"segment {row.segment_name} has {row.members} members, below its minimum of {row.min_size}"
        )
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "segments": len(segments),
            "as_of": f"{as_of:%Y-%m-%d %H:%M}",
            "segments_below_minimum_size": small["segment_name"].tolist(),
            "sizes": dg.MetadataValue.md(
                sizes[
                    ["segment_name", "owner", "members", "entered", "exited", "min_size"]
                ].to_markdown(index=False)
            ),
        }
    )
    outcome = quality.validate(settings.gx_context_dir(), "segment_sizes", sizes)
    yield gx_check_result(
        outcome,
        check_name="segment_sizes_are_within_bounds",
        extra={"segments_below_minimum_size": len(small)},
    )
