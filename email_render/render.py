"""Render a campaign for one recipient, safely.

Templates run in Jinja2's sandbox; HTML templates autoescape, so customer data that holds
markup or template syntax comes out as text. Undefined names fail loudly (StrictUndefined):
a template that asks for a field the profile does not have is an error, not a blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from email_render.campaign import Campaign

TEMPLATES_DIR = Path(__file__).parent / "templates"


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
    """Compiles a campaign's templates once and renders them per recipient."""

    def __init__(self, campaign: Campaign, templates_dir: Path = TEMPLATES_DIR):
        loader = FileSystemLoader(str(templates_dir))
        html_env = SandboxedEnvironment(
            loader=loader,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        text_env = SandboxedEnvironment(
            loader=loader,
            autoescape=False,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.campaign = campaign
        self._html = html_env.get_template(f"{campaign.template}.html")
        self._text = text_env.get_template(f"{campaign.template}.txt")
        self._subject = text_env.from_string(campaign.subject)
        self._preheader = text_env.from_string(campaign.preheader)

    def render(self, recipient: dict) -> RenderedEmail:
        context = {
            **recipient,
            "campaign": {"id": self.campaign.campaign_id, "name": self.campaign.name},
        }
        context["products"] = [
            {**p, "product_url": with_utm(p.get("product_url"), self.campaign.utm)}
            for p in recipient.get("products") or []
        ]
        subject = " ".join(self._subject.render(context).split())
        preheader = " ".join(self._preheader.render(context).split())
        context["preheader"] = preheader
        return RenderedEmail(
            subject, preheader, self._html.render(context), self._text.render(context)
        )
