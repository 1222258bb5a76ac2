"""Render a campaign for one recipient, safely and fast.

Templates run in Jinja2's sandbox; HTML templates autoescape, so customer data that holds
markup or template syntax comes out as text. Undefined names fail (StrictUndefined), and
`Renderer.validate` finds every name a template, its layout and its blocks use before any
email is rendered, so a template that asks for a field the customer view lacks fails when
the campaign is validated, not at send time.

All per-template work happens once, when a template is loaded: CSS from email.css is
inlined into the HTML, and block includes are spliced in, so a render pays for neither.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import css_inline
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    meta,
    nodes,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

from email_render.campaign import Campaign, CampaignError

TEMPLATES_DIR = Path(__file__).parent / "templates"
LINE_BREAK = "\x00"
INCLUDE = re.compile(r"\{%-?\s*include\s+[\"']([^\"']+)[\"']\s*-?%\}")
# Names the renderer itself provides, beside the recipient's fields.
PROVIDED = {
    "campaign",
    "preheader",
    "products",
    "unsubscribe_url",
    "postal_address",
    "variant",
    "cart_items",
}


class InliningLoader(FileSystemLoader):
    """Loads templates with email.css inlined into every HTML element and block includes
    spliced in, once per template: Jinja caches the compiled result, so no recipient pays
    for either. Template logic must sit in text or attribute values (never between table
    rows, where an HTML parser would move it) and must not use < or >."""

    def __init__(self, searchpath: Path):
        super().__init__(str(searchpath))
        css_path = Path(searchpath) / "email.css"
        self._css = css_path.read_text(encoding="utf-8") if css_path.is_file() else ""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".html") and self._css:
            if source.lstrip().lower().startswith("<!doctype"):
                source = css_inline.CSSInliner(extra_css=self._css, keep_style_tags=False).inline(
                    source
                )
            else:
                source = css_inline.inline_fragment(source, self._css)
        source = INCLUDE.sub(lambda m: self.get_source(environment, m.group(1))[0], source)
        return source, filename, uptodate


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    preheader: str
    html: str
    text: str


def with_utm(url: str | None, utm: dict | str) -> str | None:
    """The URL with the campaign's UTM parameters (a mapping, or its encoded query)."""
    if not url or not utm:
        return url
    encoded = utm if isinstance(utm, str) else urlencode(utm)
    parts = urlsplit(url)
    query = f"{parts.query}&{encoded}" if parts.query else encoded
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class DataSandbox(SandboxedEnvironment):
    """The sandbox, with a fast path for the one kind of object our context holds: plain
    dicts of customer data. `recipient.first_name` on a dict is an item lookup, which can
    reach no attribute of any object, so it skips the sandbox's attribute checks; everything
    else still goes through them. A third of the render time was those checks."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and type(attribute) is str:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


class Renderer:
    """Compiles a campaign's templates once and renders them per recipient and variant."""

    def __init__(self, campaign: Campaign, templates_dir: Path = TEMPLATES_DIR):
        options = {
            "loader": InliningLoader(templates_dir),
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "auto_reload": False,  # templates do not change during an export: no stat per lookup
        }
        self._html_env = DataSandbox(
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
            **options,
        )
        self._text_env = DataSandbox(autoescape=False, **options)
        self.campaign = campaign
        self._utm = urlencode(campaign.utm)
        self._tracked_urls: dict[str | None, str | None] = {}
        try:
            self._html = self._html_env.get_template(f"{campaign.template}.html")
            self._text = self._text_env.get_template(f"{campaign.template}.txt")
        except TemplateSyntaxError as error:
            raise CampaignError(
                f"{campaign.source_path}: field 'template': template '{error.name}', line"
                f" {error.lineno}: {error.message}"
            ) from error
        self._subjects = {v.name: self._line(i, "subject") for i, v in enumerate(campaign.variants)}
        self._preheaders = {
            v.name: self._line(i, "preheader") for i, v in enumerate(campaign.variants)
        }
        # Both lines in one render, split at a NUL: each render has a fixed cost in Jinja.
        self._both_lines = {
            v.name: self._text_env.from_string(f"{v.subject}{LINE_BREAK}{v.preheader}")
            for v in campaign.variants
        }
        # Subjects and preheaders use a field or two ("{{ first_name or 'there' }}"), so the
        # same few values recur: render each combination once.
        self._line_fields = {
            v.name: tuple(
                sorted(
                    meta.find_undeclared_variables(self._text_env.parse(v.subject))
                    | meta.find_undeclared_variables(self._text_env.parse(v.preheader))
                )
            )
            for v in campaign.variants
        }
        self._lines: dict[tuple, tuple[str, str]] = {}
        # The sandbox's globals (range, dict, ...), merged into each email's context once.
        self._globals = dict(self._html.globals)

    def _line(self, index: int, part: str) -> Template:
        """A subject or preheader compiled, or an error naming the variant and the part."""
        try:
            return self._text_env.from_string(getattr(self.campaign.variants[index], part))
        except TemplateSyntaxError as error:
            raise CampaignError(
                f"{self.campaign.source_path}: field 'variants[{index}].{part}': {error.message}"
            ) from error

    def validate(self, fields: set[str], item_fields: dict[str, set[str]] | None = None) -> None:
        """Fail, naming the campaign file and the template or variant, if anything uses a name
        that is neither a customer field nor provided by the renderer, or (given the fields
        of each list of items, e.g. products) an attribute of an item the list does not
        have, such as `products[0].product_nme`."""
        known = fields | PROVIDED
        items = item_fields or {}
        for env, name in (
            (self._html_env, f"{self.campaign.template}.html"),
            (self._text_env, f"{self.campaign.template}.txt"),
        ):
            unknown = self._undeclared(env, name) - known
            if unknown:
                raise CampaignError(
                    f"{self.campaign.source_path}: field 'template': template '{name}' uses "
                    f"{', '.join(sorted(unknown))}, which the customer view does not have"
                )
            for template, used in self._item_attributes(env, name, items):
                self._check_items(used, items, "template", f"template '{template}' uses")
        for i, variant in enumerate(self.campaign.variants):
            for part in ("subject", "preheader"):
                ast = self._text_env.parse(getattr(variant, part))
                unknown = meta.find_undeclared_variables(ast) - known
                if unknown:
                    raise CampaignError(
                        f"{self.campaign.source_path}: field 'variants[{i}].{part}': uses "
                        f"{', '.join(sorted(unknown))}, which the customer view does not have"
                    )
                used = _item_attributes_of(ast, set(items))
                self._check_items(used, items, f"variants[{i}].{part}", "uses")

    def _check_items(self, used: set, items: dict[str, set[str]], field_name: str, what: str):
        for list_name, attribute in sorted(used):
            have = items[list_name]
            if attribute not in have:
                close = difflib.get_close_matches(attribute, sorted(have), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise CampaignError(
                    f"{self.campaign.source_path}: field '{field_name}': {what}"
                    f" {list_name}[].{attribute}, which its items do not have{hint};"
                    f" they have {', '.join(sorted(have))}"
                )

    @staticmethod
    def _item_attributes(env: SandboxedEnvironment, name: str, items: dict, seen=None):
        """(template, {(list, attribute)}) for the template and everything it includes."""
        seen = seen if seen is not None else set()
        if name in seen or not items:
            return []
        seen.add(name)
        ast = env.parse(env.loader.get_source(env, name)[0])
        found = [(name, _item_attributes_of(ast, set(items)))]
        for child in meta.find_referenced_templates(ast):
            if child:
                found += Renderer._item_attributes(env, child, items, seen)
        return found

    @staticmethod
    def _undeclared(env: SandboxedEnvironment, name: str, seen: set | None = None) -> set[str]:
        seen = seen if seen is not None else set()
        if name in seen:
            return set()
        seen.add(name)
        ast = env.parse(env.loader.get_source(env, name)[0])
        names = set(meta.find_undeclared_variables(ast))
        for child in meta.find_referenced_templates(ast):
            if child:
                names |= Renderer._undeclared(env, child, seen)
        return names

    def _tracked(self, url: str | None) -> str | None:
        """A product URL with the campaign's UTM parameters; the catalogue is small, so cache."""
        tracked = self._tracked_urls.get(url)
        if tracked is None:
            tracked = self._tracked_urls[url] = with_utm(url, self._utm)
        return tracked

    def _subject_lines(self, variant: str, context: dict) -> tuple[str, str]:
        try:
            key = (variant, *(context.get(f) for f in self._line_fields[variant]))
            cached = self._lines.get(key)
        except TypeError:  # a list or dict among the fields: not worth caching
            key, cached = None, None
        if cached is None:
            both = _render(self._both_lines[variant], context)
            if both.count(LINE_BREAK) == 1:
                subject, preheader = both.split(LINE_BREAK)
            else:  # the data held a NUL itself
                subject = _render(self._subjects[variant], context)
                preheader = _render(self._preheaders[variant], context)
            cached = (" ".join(subject.split()), " ".join(preheader.split()))
            if key is not None and len(self._lines) < 100_000:
                self._lines[key] = cached
        return cached

    def render(self, recipient: dict, variant: str | None = None) -> RenderedEmail:
        """One recipient's email; a template error names the campaign file and variant (an
        attribute a product block does not have passes `validate` and fails only here)."""
        variant = variant or self.campaign.variants[0].name
        try:
            return self._render_email(recipient, variant)
        except TemplateError as error:
            raise CampaignError(
                f"{self.campaign.source_path}: variant '{variant}': cannot render"
                f" {self.campaign.template}: {error}"
            ) from error

    def _render_email(self, recipient: dict, variant: str) -> RenderedEmail:
        context = {
            **self._globals,
            **recipient,
            "variant": variant,
            "campaign": {"id": self.campaign.campaign_id, "name": self.campaign.name},
        }
        for key in ("products", "cart_items", "browsed_items"):
            context[key] = [
                {**p, "product_url": self._tracked(p.get("product_url"))}
                for p in recipient.get(key) or []
            ]
        subject, preheader = self._subject_lines(variant, context)
        context["preheader"] = preheader
        return RenderedEmail(
            subject, preheader, _render(self._html, context), _render(self._text, context)
        )


def _item_attributes_of(ast: nodes.Template, lists: set[str]) -> set[tuple[str, str]]:
    """Attributes read from an item of one of `lists`: `products[0].price`,
    `product.price` inside `{% for product in products %}`, `product['price']`."""
    aliases: dict[str, set[str]] = {}
    for loop in ast.find_all(nodes.For):
        if (
            isinstance(loop.iter, nodes.Name)
            and loop.iter.name in lists
            and isinstance(loop.target, nodes.Name)
        ):
            aliases.setdefault(loop.target.name, set()).add(loop.iter.name)

    def sources(node) -> set[str]:
        if isinstance(node, nodes.Name):
            return aliases.get(node.name, set())
        if (
            isinstance(node, nodes.Getitem)
            and isinstance(node.node, nodes.Name)
            and node.node.name in lists
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, int)
        ):
            return {node.node.name}
        return set()

    found = set()
    for node in ast.find_all(nodes.Getattr):
        found |= {(source, node.attr) for source in sources(node.node)}
    for node in ast.find_all(nodes.Getitem):
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found |= {(source, node.arg.value) for source in sources(node.node)}
    return found


def _render(template: Template, context: dict) -> str:
    """Template.render, minus its merge of the environment's globals into a new dict on every
    call (a walk over a ChainMap, a fifth of the render time): `context` already holds them,
    so it is passed as the template's context as is, as the sandbox still guards every
    attribute and call. Errors are reported as Template.render reports them."""
    try:
        return "".join(template.root_render_func(template.new_context(context, shared=True)))
    except Exception:
        template.environment.handle_exception()
        raise
