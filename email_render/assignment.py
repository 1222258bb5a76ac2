"""Deterministic A/B/n assignment with a holdout: the same person always lands in the same
group of a campaign, so reruns and resumed exports keep their assignments.

`assign` is the definition; `assignment_sql` is the same arithmetic as a SQL expression, so a
plan assigns its whole audience inside the warehouse without holding it in Python."""

from __future__ import annotations

import hashlib

from email_render.campaign import Campaign

HOLDOUT = "holdout"


def bucket(campaign_id: str, person_id: str) -> float:
    digest = hashlib.sha256(f"{campaign_id}:{person_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _variant_bounds(campaign: Campaign) -> list[tuple[float, str]]:
    total = sum(v.weight for v in campaign.variants)
    bounds, cumulative = [], 0.0
    for variant in campaign.variants:
        cumulative += variant.weight / total
        bounds.append((cumulative, variant.name))
    return bounds


def assign(campaign: Campaign, person_id: str) -> str:
    """'holdout' for the control group, else the name of a variant, by weight."""
    u = bucket(campaign.campaign_id, person_id)
    if u < campaign.holdout_share:
        return HOLDOUT
    u = (u - campaign.holdout_share) / (1 - campaign.holdout_share)
    for bound, name in _variant_bounds(campaign):
        if u < bound:
            return name
    return campaign.variants[-1].name


def assignment_sql(campaign: Campaign, person_id_column: str) -> tuple[str, list]:
    """A DuckDB expression equal to `assign(campaign, <person_id_column>)`, and its parameters.
    The bucket is the same 64 bits of the same SHA-256, and the bounds are the floats
    `assign` compares with, so both give the same group to every person."""
    u = (
        f"(cast(('0x' || sha256(? || ':' || {person_id_column})[1:16]) as ubigint)::double"
        " / 18446744073709551616.0)"
    )
    h = campaign.holdout_share
    branches = " ".join(f"when ({u} - ?) / ? < ? then ?" for _ in campaign.variants)
    params: list = [campaign.campaign_id, h, HOLDOUT]
    for bound, name in _variant_bounds(campaign):
        params += [campaign.campaign_id, h, 1 - h, bound, name]
    params.append(campaign.variants[-1].name)
    return f"case when {u} < ? then ? {branches} else ? end", params
