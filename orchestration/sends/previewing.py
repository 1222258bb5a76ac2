"""Previews of a campaign's variants on real profiles, for a person to look at."""

from __future__ import annotations

from pathlib import Path

import duckdb

from email_render.export import render_send, write_previews
from orchestration.sends.exporting import CampaignRun


def previews(run: CampaignRun, conn: duckdb.DuckDBPyConnection) -> Path:
    """One preview per variant and lifecycle segment, from real profiles, plus the profiles
    with the least data (no first name, no products) so fallbacks can be seen."""
    campaign, renderer, send_date, out_dir = run.campaign, run.renderer, run.send_date, run.out_dir
    recipient_extra, sender, domain = run.recipient_extra, run.sender, run.domain
    rows = conn.execute(
        """
        with candidates as (
            select a.*, c.lifecycle_stage,
                row_number() over (partition by c.lifecycle_stage order by a.person_id) as n,
                row_number() over (
                    order by (a.first_name is null)::int + (len(coalesce(a.products, [])) = 0)::int desc, a.person_id
                ) as sparse_rank
            from email.send_audience as a
            join marts.dim_customers as c on a.person_id = c.person_id
        )
        select * from candidates where n = 1 or sparse_rank = 1 order by lifecycle_stage, person_id
        """
    )
    names = [d[0] for d in rows.description]
    samples = [dict(zip(names, r, strict=True)) for r in rows.fetchall()]
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
            recipient.update(recipient_extra(recipient))
            record, _ = render_send(renderer, recipient, variant.name, day, sender, domain)
            label = sample["lifecycle_stage"] if sample["n"] == 1 else "least_data"
            pages.append((variant.name, label, record))
    return write_previews(out_dir, f"{campaign.name} · {day}", pages)
