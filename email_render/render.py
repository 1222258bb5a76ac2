"""Render a campaign for one recipient, safely.

Templates run in Jinja2's sandbox; HTML templates autoescape, so customer data that holds
markup or template syntax comes out as text. Undefined names fail (StrictUndefined), and
`Renderer.validate` finds every name a template, its layout and its blocks use before any
email is rendered, so a template that asks for a field the customer view lacks fails when
the campaign is validated, not at send time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from jinja2 import FileSystemLoader, StrictUndefined, meta, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from email_render.campaign import Campaign, CampaignError

TEMPLATES_DIR = Path(__file__).parent / "templates"
# Names the renderer itself provides, beside the recipient's fields.
PROVIDED = {"campaign", "preheader", "products", "unsubscribe_url", "postal_address", "variant"}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    preheader: str
    html: str
    text: str


def with_utm(url: str | None, utm: dict) -> str | None:
    if not url or not utm:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(utm)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class Renderer:
    """Compiles a campaign's templates once and renders them per recipient and variant."""

    def __init__(self, campaign: Campaign, templates_dir: Path = TEMPLATES_DIR):
        loader = FileSystemLoader(str(templates_dir))
        options = {
            "loader": loader,
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
        }
        self._html_env = SandboxedEnvironment(
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
            **options,
        )
        self._text_env = SandboxedEnvironment(autoescape=False, **options)
        self.campaign = campaign
        self._html = self._html_env.get_template(f"{campaign.template}.html")
        self._text = self._text_env.get_template(f"{campaign.template}.txt")
        self._subjects = {v.name: self._text_env.from_string(v.subject) for v in campaign.variants}
        self._preheaders = {
            v.name: self._text_env.from_string(v.preheader) for v in campaign.variants
        }

    def validate(self, fields: set[str]) -> None:
        """Fail, naming the campaign file and the template or variant, if anything uses a name
        that is neither a customer field nor provided by the renderer."""
        known = fields | PROVIDED
        sources = {
            f"template '{self.campaign.template}.html'": (
                self._html_env,
                f"{self.campaign.template}.html",
            ),
            f"template '{self.campaign.template}.txt'": (
                self._text_env,
                f"{self.campaign.template}.txt",
            ),
        }
        for where, (env, name) in sources.items():
            unknown = self._undeclared(env, name) - known
            if unknown:
                raise CampaignError(
                    f"{self.campaign.source_path}: field 'template': {where} uses {', '.join(sorted(unknown))}, "
                    "which the customer view does not have"
                )
        for i, variant in enumerate(self.campaign.variants):
            for part in ("subject", "preheader"):
                unknown = (
                    meta.find_undeclared_variables(self._text_env.parse(getattr(variant, part)))
                    - known
                )
                if unknown:
                    raise CampaignError(
                        f"{self.campaign.source_path}: field 'variants[{i}].{part}': uses "
                        f"{', '.join(sorted(unknown))}, which the customer view does not have"
                    )

    @staticmethod
    def _undeclared(env: SandboxedEnvironment, name: str, seen: set | None = None) -> set[str]:
        seen = seen if seen is not None else set()
        if name in seen:
            return set()
        seen.add(name)
        source = env.loader.get_source(env, name)[0]
        ast = env.parse(source)
        names = set(meta.find_undeclared_variables(ast))
        for child in meta.find_referenced_templates(ast):
            if child:
                names |= Renderer._undeclared(env, child, seen)
        return names

    def render(self, recipient: dict, variant: str | None = None) -> RenderedEmail:
        variant = variant or self.campaign.variants[0].name
        context = {
            **recipient,
            "variant": variant,
            "campaign": {"id": self.campaign.campaign_id, "name": self.campaign.name},
        }
        context["products"] = [
            {**p, "product_url": with_utm(p.get("product_url"), self.campaign.utm)}
            for p in recipient.get("products") or []
        ]
        subject = " ".join(self._subjects[variant].render(context).split())
        preheader = " ".join(self._preheaders[variant].render(context).split())
        context["preheader"] = preheader
        return RenderedEmail(
            subject, preheader, self._html.render(context), self._text.render(context)
        )
