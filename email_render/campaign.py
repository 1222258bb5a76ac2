"""Campaigns are YAML files; a file with an error is rejected naming the file and the field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
AUDIENCE_COLUMNS = {
    "is_marketable",
    "has_marketing_consent",
    "is_email_valid",
    "has_ordered",
    "has_recommendations",
}


class CampaignError(ValueError):
    """A campaign file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    template: str
    subject: str
    preheader: str
    audience: tuple[str, ...]
    utm: dict = field(default_factory=dict)
    source_path: str = ""


def _require(data: dict, key: str, path: Path, kind=str):
    if key not in data or data[key] in (None, ""):
        raise CampaignError(f"{path}: field '{key}' is required")
    if not isinstance(data[key], kind):
        raise CampaignError(
            f"{path}: field '{key}' must be a {kind.__name__}, got {type(data[key]).__name__}"
        )
    return data[key]


def load_campaign(path: Path, templates_dir: Path) -> Campaign:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CampaignError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CampaignError(f"{path}: a campaign file holds one mapping of fields")
    campaign_id = _require(data, "campaign_id", path)
    if not ID_PATTERN.match(campaign_id):
        raise CampaignError(
            f"{path}: field 'campaign_id' must match {ID_PATTERN.pattern}, got {campaign_id!r}"
        )
    template = _require(data, "template", path)
    for suffix in (".html", ".txt"):
        if not (templates_dir / f"{template}{suffix}").is_file():
            raise CampaignError(
                f"{path}: field 'template': no template {template}{suffix} in {templates_dir}"
            )
    audience = data.get("audience", {"all_of": ["is_marketable"]})
    conditions = audience.get("all_of") if isinstance(audience, dict) else None
    if not isinstance(conditions, list) or not conditions:
        raise CampaignError(
            f"{path}: field 'audience' must be a mapping with a non-empty list 'all_of'"
        )
    unknown = [c for c in conditions if c not in AUDIENCE_COLUMNS]
    if unknown:
        raise CampaignError(
            f"{path}: field 'audience.all_of': unknown condition {unknown[0]!r}; known: {sorted(AUDIENCE_COLUMNS)}"
        )
    utm = data.get("utm", {})
    if not isinstance(utm, dict):
        raise CampaignError(f"{path}: field 'utm' must be a mapping")
    return Campaign(
        campaign_id=campaign_id,
        name=_require(data, "name", path),
        template=template,
        subject=_require(data, "subject", path),
        preheader=data.get("preheader", ""),
        audience=tuple(conditions),
        utm={str(k): str(v) for k, v in utm.items()},
        source_path=str(path),
    )


def load_campaigns(campaigns_dir: Path, templates_dir: Path) -> list[Campaign]:
    campaigns = [load_campaign(p, templates_dir) for p in sorted(campaigns_dir.glob("*.yaml"))]
    seen: dict[str, str] = {}
    for c in campaigns:
        if c.campaign_id in seen:
            raise CampaignError(
                f"{c.source_path}: field 'campaign_id': {c.campaign_id!r} is also used by {seen[c.campaign_id]}"
            )
        seen[c.campaign_id] = c.source_path
    return campaigns
