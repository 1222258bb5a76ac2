"""Deterministic A/B/n assignment with a holdout: the same person always lands in the same
group of a campaign, so reruns and resumed exports keep their assignments."""

from __future__ import annotations

import hashlib

from email_render.campaign import Campaign

HOLDOUT = "holdout"


def bucket(campaign_id: str, person_id: str) -> float:
    digest = hashlib.sha256(f"{campaign_id}:{person_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(campaign: Campaign, person_id: str) -> str:
    """'holdout' for the control group, else the name of a variant, by weight."""
    u = bucket(campaign.campaign_id, person_id)
    if u < campaign.holdout_share:
        return HOLDOUT
    u = (u - campaign.holdout_share) / (1 - campaign.holdout_share)
    total = sum(v.weight for v in campaign.variants)
    cumulative = 0.0
    for variant in campaign.variants:
        cumulative += variant.weight / total
        if u < cumulative:
            return variant.name
    return campaign.variants[-1].name
