"""Journeys are YAML files: a trigger, then steps sent a set time after a person enters.

    journey_id: cart-abandonment
    name: Cart reminder
    trigger: cart_abandoned        # cart_abandoned, browse_abandoned, order_placed, signed_up
    exit_on_purchase: true         # an order after entering ends the journey
    priority: 10                   # optional: higher goes first under the frequency caps
    steps:
      - name: reminder
        after_hours: 1             # counted from entering the journey
        template: journey_cart
        subject: "{{ first_name or 'Hi' }}, your cart is waiting"
        preheader: "..."
        # For a step after the first: who opened the previous step but did not click gets this.
        opened_not_clicked: {subject: "...", preheader: "..."}
    utm: {utm_source: mailpipe, utm_medium: email, utm_campaign: cart-abandonment}

Each step is sent as a campaign of its own (`<journey_id>-<step>`), through the same guards,
frequency caps, ledger and export as scheduled campaigns. A field the schema does not know
is an error, reported with every other unknown field of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from email_render.campaign import (
    ID_PATTERN,
    Campaign,
    CampaignError,
    Problems,
    Variant,
    _fail,
    read_campaigns,
    read_files,
    read_mapping,
    read_priority,
    unknown_fields,
)

TRIGGERS = ("cart_abandoned", "browse_abandoned", "order_placed", "signed_up")
MAIN, ALTERNATIVE = "main", "alternative"
JOURNEY_FIELDS = ("journey_id", "name", "trigger", "exit_on_purchase", "steps", "utm", "priority")
STEP_FIELDS = ("name", "after_hours", "template", "subject", "preheader", "opened_not_clicked")
ALTERNATIVE_FIELDS = ("subject", "preheader")


@dataclass(frozen=True)
class Step:
    name: str
    after_hours: float
    campaign: Campaign


@dataclass(frozen=True)
class Journey:
    journey_id: str
    name: str
    trigger: str
    exit_on_purchase: bool
    steps: tuple[Step, ...]
    source_path: str


def load_journey(path: Path, templates_dir: Path) -> Journey:
    data = read_mapping(path, "journey")
    problems = Problems()
    problems.messages.extend(unknown_fields(data, JOURNEY_FIELDS, path))
    for i, raw in enumerate(data.get("steps") or []):
        if isinstance(raw, dict):
            problems.messages.extend(unknown_fields(raw, STEP_FIELDS, path, f"steps[{i}]."))
            alternative = raw.get("opened_not_clicked")
            if isinstance(alternative, dict):
                problems.messages.extend(
                    unknown_fields(
                        alternative, ALTERNATIVE_FIELDS, path, f"steps[{i}].opened_not_clicked."
                    )
                )
    journey = problems.attempt(lambda: _journey(data, path, templates_dir))
    problems.raise_if_any()
    return journey


def _journey(data: dict, path: Path, templates_dir: Path) -> Journey:
    journey_id = data.get("journey_id")
    if not isinstance(journey_id, str) or not ID_PATTERN.match(journey_id):
        _fail(path, "journey_id", f"must match {ID_PATTERN.pattern}, got {journey_id!r}")
    trigger = data.get("trigger")
    if trigger not in TRIGGERS:
        _fail(path, "trigger", f"must be one of {', '.join(TRIGGERS)}, got {trigger!r}")
    utm = data.get("utm", {})
    if not isinstance(utm, dict):
        _fail(path, "utm", "must be a mapping")
    priority = read_priority(data, path)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        _fail(path, "steps", "must list at least one step")
    steps, previous_hours = [], -1.0
    for i, raw in enumerate(raw_steps):
        where = f"steps[{i}]"
        if not isinstance(raw, dict):
            _fail(path, where, "must be a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not ID_PATTERN.match(name):
            _fail(path, f"{where}.name", f"must match {ID_PATTERN.pattern}, got {name!r}")
        hours = raw.get("after_hours")
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
            _fail(path, f"{where}.after_hours", f"must be hours from 0, got {hours!r}")
        if hours <= previous_hours:
            _fail(path, f"{where}.after_hours", "steps must come in time order")
        previous_hours = hours
        template = raw.get("template")
        for suffix in (".html", ".txt"):
            if (
                not isinstance(template, str)
                or not (templates_dir / f"{template}{suffix}").is_file()
            ):
                _fail(
                    path, f"{where}.template", f"no template {template}{suffix} in {templates_dir}"
                )
        subject = raw.get("subject")
        if not isinstance(subject, str) or not subject.strip():
            _fail(path, f"{where}.subject", "is required")
        alternative = raw.get("opened_not_clicked") or {}
        if not isinstance(alternative, dict):
            _fail(path, f"{where}.opened_not_clicked", "must be a mapping")
        variants = (
            Variant(MAIN, subject, str(raw.get("preheader", ""))),
            Variant(
                ALTERNATIVE,
                str(alternative.get("subject", subject)),
                str(alternative.get("preheader", raw.get("preheader", ""))),
            ),
        )
        campaign = Campaign(
            campaign_id=f"{journey_id}-{name}",
            name=f"{data.get('name', journey_id)}: {name}",
            template=template,
            variants=variants,
            trigger=trigger,
            utm={str(k): str(v) for k, v in {**utm, "utm_content": name}.items()},
            source_path=str(path),
            priority=priority,
        )
        steps.append(Step(name, float(hours), campaign))
    return Journey(
        journey_id=journey_id,
        name=str(data.get("name", journey_id)),
        trigger=trigger,
        exit_on_purchase=bool(data.get("exit_on_purchase", True)),
        steps=tuple(steps),
        source_path=str(path),
    )


def read_journeys(folder: Path, templates_dir: Path) -> tuple[list[Journey], dict]:
    """The journeys that load, and the errors of the files that do not."""
    return read_files(folder, lambda p: load_journey(p, templates_dir), "journey_id")


def load_journeys(folder: Path, templates_dir: Path) -> list[Journey]:
    """Every journey, or one error listing every broken file."""
    journeys, broken = read_journeys(folder, templates_dir)
    if broken:
        raise CampaignError("\n".join(broken.values()))
    return journeys


def sendable_campaigns(campaigns_dir: Path, journeys_dir: Path, templates_dir: Path) -> list:
    """Every campaign and journey step that loads, as the campaigns they are sent as: what
    the frequency caps need to know each one's priority."""
    campaigns, _ = read_campaigns(campaigns_dir, templates_dir)
    journeys, _ = read_journeys(journeys_dir, templates_dir)
    return [*campaigns, *(step.campaign for journey in journeys for step in journey.steps)]
