"""Which landing sources a campaign or journey needs to be current before it may send.

Every send needs the CRM (consent), the email service (unsubscribes, complaints, bounces)
and the shop (exit on purchase, what was bought since, recommendations). A send needs the web
tracker too when its audience uses a customer-view column the dbt project marks
`meta: {source: web}` (directly or through a library segment), when a journey is triggered
by web behaviour, or when the campaign says so (`requires_sources: [web]`).
"""

from __future__ import annotations

from pathlib import Path

from email_render.campaign import CampaignError
from orchestration.ingest.landing import LANDING_TABLES
from orchestration.segments.rules import Segment, model_columns

ALWAYS = frozenset({"crm", "esp", "shop"})
WEB_TRIGGERS = frozenset({"cart_abandoned", "browse_abandoned"})


def column_sources(models_dir: Path, model: str = "dim_customers") -> dict[str, str]:
    """Column -> source, for the columns of `model` whose YAML declares `meta: {source: ...}`."""
    found = {}
    for column in model_columns(models_dir, model):
        meta = column.get("meta") or (column.get("config") or {}).get("meta") or {}
        if meta.get("source"):
            found[column["name"].lower()] = meta["source"]
    return found


def rule_fields(rule, library: list[Segment], seen: tuple[str, ...] = ()) -> set[str]:
    """Every column a segment rule reads, through the library segments it names."""
    if not isinstance(rule, dict):
        return set()
    fields = set()
    if "field" in rule:
        fields.add(str(rule["field"]).lower())
    for key in ("all", "any"):
        for part in rule.get(key) or []:
            fields |= rule_fields(part, library, seen)
    if "not" in rule:
        fields |= rule_fields(rule["not"], library, seen)
    if "segment" in rule and rule["segment"] not in seen:
        named = next((s for s in library if s.name == rule["segment"]), None)
        if named is not None:
            fields |= rule_fields(named.rule, library, (*seen, named.name))
    return fields


def campaign_needs(campaign, library: list[Segment], sources_of: dict[str, str]) -> frozenset:
    """The sources `campaign` (scheduled, or a journey step) must have fresh."""
    declared = set(getattr(campaign, "requires_sources", ()) or ())
    known = {t.source for t in LANDING_TABLES}
    if declared - known:
        raise CampaignError(
            f"{campaign.source_path}: requires_sources: unknown source(s)"
            f" {sorted(declared - known)}; the sources are {sorted(known)}"
        )
    needed = set(ALWAYS) | declared
    if campaign.audience:
        needed |= {
            sources_of[f] for f in rule_fields(campaign.audience, library) if f in sources_of
        }
    return frozenset(needed)


def journey_needs(journey, library: list[Segment], sources_of: dict[str, str]) -> frozenset:
    needed = set(ALWAYS)
    if journey.trigger in WEB_TRIGGERS:
        needed.add("web")
    for step in journey.steps:
        needed |= campaign_needs(step.campaign, library, sources_of)
    return frozenset(needed)
