"""Previews of a campaign's variants on real members of its audience, for a person to look
at before or after the send."""

from __future__ import annotations

from pathlib import Path

import duckdb

from email_render.export import render_send, write_previews
from orchestration.sends import planning
from orchestration.sends.exporting import CampaignRun

MEMBERS = 3


def previews(
    run: CampaignRun,
    conn: duckdb.DuckDBPyConnection,
    members: int = MEMBERS,
    library=(),
    caps: planning.FrequencyCaps | None = None,
) -> Path:
    """One preview per variant for each of `members` people the campaign mails that day,
    plus the member with the least data (no first name, no products) so fallbacks show.
    People come from the day's plan, or, with no plan yet, from the audience after the
    send guards; if no one passes them, from the audience as its rule selects it."""
    campaign, renderer, send_date, out_dir = run.campaign, run.renderer, run.send_date, run.out_dir
    key = [campaign.campaign_id, send_date]
    planned = conn.execute(
        "select count(*) from email.send_plan where campaign_id = ? and send_date = ?", key
    ).fetchall()[0][0]
    if planned:
        conn.execute(
            "create or replace temp table preview_people as select person_id from email.send_plan"
            " where campaign_id = ? and send_date = ? and variant <> 'holdout'",
            key,
        )
    else:
        planning.audience_for_preview(
            conn, campaign, send_date, caps or planning.FrequencyCaps.from_settings(), library
        )
    rows = conn.execute(
        """
        with members as (
            select a.*,
                row_number() over (order by md5(a.person_id)) as n,
                row_number() over (
                    order by (a.first_name is null)::int + (len(coalesce(a.products, [])) = 0)::int desc,
                        a.person_id
                ) as sparse_rank
            from email.send_audience as a
            join preview_people as p on a.person_id = p.person_id
        )
        select * from members where n <= ? or sparse_rank = 1 order by n
        """,
        [members],
    )
    names = [d[0] for d in rows.description]
    samples = [dict(zip(names, r, strict=True)) for r in rows.fetchall()]
    conn.execute("drop table preview_people")
    day = send_date.isoformat()
    pages = []
    for variant in campaign.variants:
        for sample in samples:
            recipient = {
                **sample,
                "products": sample["products"] or [],
                "cart_items": sample["cart_items"] or [],
                "browsed_items": sample.get("browsed_items") or [],
            }
            recipient.update(run.recipient_extra(recipient))
            record, _ = render_send(renderer, recipient, variant.name, day, run.sender, run.domain)
            label = f"member {sample['n']}" if sample["n"] <= members else "least data"
            pages.append((variant.name, label, record))
    return write_previews(out_dir, f"{campaign.name} · {day}", pages, run.sender)
