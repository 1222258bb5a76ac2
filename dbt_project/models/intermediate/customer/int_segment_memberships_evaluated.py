"""Who is in each segment now: the library's rules compiled to one query over the customer
view, with every value from a segment file bound as a parameter (never spliced into SQL)."""

from pathlib import Path


def model(dbt, session):
    from orchestration import settings
    from orchestration.segments.rules import compile_segments, declared_values, load_segments

    dbt.ref("int_segments_loaded")  # the library is validated there first
    segments = load_segments(Path(dbt.config.get("segments_dir")))
    customers = dbt.ref("dim_customers")
    customers.create_view("segment_base", replace=True)
    columns = dict(zip(customers.columns, (str(t) for t in customers.types), strict=True))
    known = declared_values(settings.dbt_project_dir() / "models")
    as_of = dbt.ref("pipeline_as_of").project("as_of_at").limit(1).fetchall()[0][0]
    compiled = compile_segments(segments, columns, "segment_base", known, as_of)
    session.execute(
        "create or replace temp table segment_memberships as"
        f" select cast(person_id as varchar) as person_id, cast(segment_name as varchar) as segment_name"
        f" from ({compiled.sql})",
        compiled.params,
    )
    return session.table("segment_memberships")
