"""Campaigns are YAML files; a file with an error is rejected naming the file and the field.

    campaign_id: weekly-picks
    name: Weekly picks
    template: weekly_picks
    audience: {segment: win_back_candidates}    # a segment rule, as in the segment library
    variants:                                   # A/B/n; weights default to equal
      - {name: a, subject: "...", preheader: "..."}
      - {name: b, subject: "...", preheader: "...", weight: 2}
    holdout_share: 0.1                          # a control group that is never mailed
    schedule: {every: week, days: [monday]}     # or {every: day}, {every: month, on_day: 1}
    # trigger: cart_abandonment                 # instead of a schedule
    utm: {utm_source: mailpipe, utm_medium: email, utm_campaign: weekly-picks}
    priority: 0                                 # higher goes first under the frequency caps

Whoever is in the audience is also checked by the send guards (consent, unsubscribes,
bounces, complaints, valid email, frequency caps); no campaign can widen those.

A field the schema does not know is an error, not ignored: a misspelled `holdout_share`
would otherwise mean no control group. Every error in a file is reported at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
VARIANT_PATTERN = re.compile(r"^[a-z0-9_]{1,16}$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CAMPAIGN_FIELDS = (
    "campaign_id",
    "name",
    "template",
    "audience",
    "variants",
    "subject",
    "preheader",
    "holdout_share",
    "schedule",
    "trigger",
    "utm",
    "priority",
    "requires_sources",
)
VARIANT_FIELDS = ("name", "subject", "preheader", "weight")
SCHEDULE_FIELDS = ("every", "days", "on_day")


class CampaignError(ValueError):
    """A campaign file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Variant:
    name: str
    subject: str
    preheader: str = ""
    weight: float = 1.0


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    template: str
    variants: tuple[Variant, ...]
    audience: dict | None = None
    holdout_share: float = 0.0
    schedule: dict | None = None
    trigger: str | None = None
    utm: dict = field(default_factory=dict)
    source_path: str = ""
    # Under the frequency caps only mail of this priority or higher counts against a send,
    # and scheduled campaigns are planned highest first.
    priority: int = 0
    # Landing sources this campaign needs fresh beyond those every send needs, e.g. [web] for
    # a template that shows browsing the audience rule does not mention.
    requires_sources: tuple[str, ...] = ()

    def is_due(self, day: date) -> bool:
        """Whether a scheduled campaign sends on `day`; triggered campaigns never are."""
        if self.schedule is None:
            return False
        every = self.schedule["every"]
        if every == "day":
            return True
        if every == "week":
            return WEEKDAYS[day.weekday()] in self.schedule["days"]
        return day.day == self.schedule["on_day"]


def _fail(path: Path, field_name: str, message: str):
    raise CampaignError(f"{path}: field '{field_name}': {message}")


def read_priority(data: dict, path: Path) -> int:
    value = data.get("priority", 0)
    if isinstance(value, bool) or not isinstance(value, int) or not -100 <= value <= 100:
        _fail(path, "priority", f"must be a whole number from -100 to 100, got {value!r}")
    return value


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest known word, or nothing when none is close."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_fields(data: dict, known: tuple[str, ...], path: Path, prefix: str = "") -> list[str]:
    """An error for each key of `data` the schema does not have."""
    return [
        f"{path}: field '{prefix}{key}': unknown field{did_you_mean(str(key), known)};"
        f" known: {', '.join(known)}"
        for key in data
        if key not in known
    ]


class Problems:
    """Errors of one file, collected so that all are reported at once."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def attempt(self, check: Callable, default=None):
        """The value `check` returns, or `default` after noting the error it raised."""
        try:
            return check()
        except CampaignError as error:
            self.messages.append(str(error))
            return default

    def raise_if_any(self) -> None:
        if self.messages:
            raise CampaignError("\n".join(self.messages))


def _text(data: dict, key: str, path: Path, prefix: str = "", required: bool = True) -> str:
    value = data.get(key)
    if value in (None, ""):
        if required:
            _fail(path, prefix + key, "is required")
        return ""
    if not isinstance(value, str):
        _fail(path, prefix + key, f"must be text, got {type(value).__name__}")
    return value


def _variants(data: dict, path: Path) -> tuple[Variant, ...]:
    if "variants" not in data:
        # One variant from top-level subject and preheader.
        return (
            Variant(
                "a", _text(data, "subject", path), _text(data, "preheader", path, required=False)
            ),
        )
    items = data["variants"]
    if not isinstance(items, list) or not items:
        _fail(path, "variants", "must be a non-empty list")
    variants, seen = [], set()
    for i, item in enumerate(items):
        prefix = f"variants[{i}]."
        if not isinstance(item, dict):
            _fail(path, f"variants[{i}]", "must be a mapping with name and subject")
        unknown = unknown_fields(item, VARIANT_FIELDS, path, prefix)
        if unknown:
            raise CampaignError("\n".join(unknown))
        name = _text(item, "name", path, prefix)
        if not VARIANT_PATTERN.match(name) or name in seen or name == "holdout":
            _fail(
                path,
                prefix + "name",
                f"must be a unique short lower_case name other than 'holdout', got {name!r}",
            )
        seen.add(name)
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            _fail(path, prefix + "weight", f"must be a positive number, got {weight!r}")
        variants.append(
            Variant(
                name,
                _text(item, "subject", path, prefix),
                _text(item, "preheader", path, prefix, False),
                weight,
            )
        )
    return tuple(variants)


def _schedule(data: dict, path: Path) -> tuple[dict | None, str | None]:
    schedule, trigger = data.get("schedule"), data.get("trigger")
    if (schedule is None) == (trigger is None):
        _fail(path, "schedule", "give either a schedule or a trigger")
    if trigger is not None:
        if not isinstance(trigger, str) or not ID_PATTERN.match(trigger):
            _fail(path, "trigger", f"must be a trigger name, got {trigger!r}")
        return None, trigger
    if isinstance(schedule, dict) and (
        unknown := unknown_fields(schedule, SCHEDULE_FIELDS, path, "schedule.")
    ):
        raise CampaignError("\n".join(unknown))
    if not isinstance(schedule, dict) or schedule.get("every") not in ("day", "week", "month"):
        _fail(path, "schedule.every", "must be day, week or month")
    if schedule["every"] == "week":
        days = schedule.get("days")
        days = [days] if isinstance(days, str) else days
        if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
            _fail(path, "schedule.days", f"must list weekdays from {', '.join(WEEKDAYS)}")
        return {"every": "week", "days": tuple(days)}, None
    if schedule["every"] == "month":
        day = schedule.get("on_day")
        if not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 28:
            _fail(path, "schedule.on_day", "must be a day of the month from 1 to 28")
        return {"every": "month", "on_day": day}, None
    return {"every": "day"}, None


def read_mapping(path: Path, kind: str) -> dict:
    """The one mapping of fields a campaign or journey file holds, or an error naming it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CampaignError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CampaignError(f"{path}: a {kind} file holds one mapping of fields")
    return data


def load_campaign(path: Path, templates_dir: Path) -> Campaign:
    data = read_mapping(path, "campaign")
    problems = Problems()
    problems.messages.extend(unknown_fields(data, CAMPAIGN_FIELDS, path))

    def campaign_id() -> str:
        value = _text(data, "campaign_id", path)
        if not ID_PATTERN.match(value):
            _fail(path, "campaign_id", f"must match {ID_PATTERN.pattern}, got {value!r}")
        return value

    def template() -> str:
        value = _text(data, "template", path)
        for suffix in (".html", ".txt"):
            if not (templates_dir / f"{value}{suffix}").is_file():
                _fail(path, "template", f"no template {value}{suffix} in {templates_dir}")
        return value

    def audience() -> dict | None:
        value = data.get("audience")
        if value is not None and not isinstance(value, dict):
            _fail(path, "audience", "must be a segment rule, e.g. {segment: recent_buyers}")
        return value

    def holdout_share() -> float:
        value = data.get("holdout_share", 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            _fail(path, "holdout_share", f"must be a share from 0 up to 1, got {value!r}")
        return float(value)

    def utm() -> dict:
        value = data.get("utm", {})
        if not isinstance(value, dict):
            _fail(path, "utm", "must be a mapping")
        return {str(k): str(v) for k, v in value.items()}

    def requires_sources() -> tuple[str, ...]:
        value = data.get("requires_sources", [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            _fail(path, "requires_sources", f"must be a list of source names, got {value!r}")
        return tuple(v.strip().lower() for v in value)

    fields = {
        "campaign_id": problems.attempt(campaign_id),
        "name": problems.attempt(lambda: _text(data, "name", path)),
        "template": problems.attempt(template),
        "variants": problems.attempt(lambda: _variants(data, path)),
        "audience": problems.attempt(audience),
        "holdout_share": problems.attempt(holdout_share),
        "schedule_and_trigger": problems.attempt(lambda: _schedule(data, path)),
        "utm": problems.attempt(utm),
        "priority": problems.attempt(lambda: read_priority(data, path), 0),
        "requires_sources": problems.attempt(requires_sources, ()),
    }
    problems.raise_if_any()
    schedule, trigger = fields.pop("schedule_and_trigger")
    return Campaign(**fields, schedule=schedule, trigger=trigger, source_path=str(path))


def read_files(folder: Path, load: Callable[[Path], object], id_field: str) -> tuple[list, dict]:
    """Every YAML file of `folder` that loads, and the errors of each that does not, by file:
    one broken file stops only itself. A second file using an id is broken too."""
    items: list = []
    broken: dict[str, str] = {}
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            item = load(path)
        except CampaignError as error:
            broken[str(path)] = str(error)
            continue
        value = getattr(item, id_field)
        if value in seen:
            broken[str(path)] = (
                f"{path}: field '{id_field}': {value!r} is also used by {seen[value]}"
            )
            continue
        seen[value] = str(path)
        items.append(item)
    return items, broken


def read_campaigns(campaigns_dir: Path, templates_dir: Path) -> tuple[list[Campaign], dict]:
    """The campaigns that load, and the errors of the files that do not."""
    return read_files(campaigns_dir, lambda p: load_campaign(p, templates_dir), "campaign_id")


def load_campaigns(campaigns_dir: Path, templates_dir: Path) -> list[Campaign]:
    """Every campaign, or one error listing every broken file."""
    campaigns, broken = read_campaigns(campaigns_dir, templates_dir)
    if broken:
        raise CampaignError("\n".join(broken.values()))
    return campaigns
