"""Data Docs that open with no network.

GX's pages load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from CDNs, and its
logo from S3 with the data context's id in the query string; offline, the index lists no
validations. After every build the site's pages point at copies of those exact files (see
data_docs_assets/NOTICE.md), copied into the site so it can be zipped or moved whole."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

ASSETS_DIR = Path(__file__).parent / "data_docs_assets"
VENDOR = "static/vendor"

# Each CDN address in GX's templates and the copy that replaces it.
CDN_COPIES = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery@3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js@1.12.9/umd/popper.min.js"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap@4.3.1/js/bootstrap.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap@4.3.1/css/bootstrap.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table@1.19.1/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table@1.19.1/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table@1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    # 1.19.0's filter-control stylesheet, minified or not, is the same rules as 1.19.1's.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table@1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table@1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker@1.9.0/js/bootstrap-datepicker.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker@1.9.0/css/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free@6.6.0/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "bootstrap-dark@1.1.0/css/bootstrap-prefers-dark.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": "vega@5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite@5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed@6.29.0/vega-embed.min.js",
}
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
_ADDRESS = re.compile(r"""(?P<quote>["'])(?P<url>https?://[^"']+)(?P=quote)""")
# Subresource integrity cannot be checked on file:// (no CORS), so it would block the copy.
_INTEGRITY = re.compile(r"""\s+(integrity|crossorigin)=(["'])[^"']*\2""")


def make_offline(site_dir: Path) -> int:
    """Copy the assets into the site and point its pages and stylesheets at them; return
    how many files were rewritten. Run after every build: only what the build wrote since
    the last run is read, so the cost stays flat as validation pages accumulate."""
    site_dir = Path(site_dir)
    vendor = site_dir / VENDOR
    marker = vendor / ".offline"
    since = marker.stat().st_mtime if marker.exists() else 0.0
    _copy_missing(ASSETS_DIR, vendor)
    images = site_dir / "static" / "images"
    rewritten = 0
    for path in [*site_dir.rglob("*.html"), *(site_dir / "static" / "styles").glob("*.css")]:
        if path.stat().st_mtime < since:
            continue
        text = path.read_text(encoding="utf-8")
        offline = _rewrite(text, path.parent, vendor, images)
        if offline != text:
            path.write_text(offline, encoding="utf-8")
            rewritten += 1
    marker.touch()
    return rewritten


def _copy_missing(source: Path, target: Path) -> None:
    """The assets the site lacks, or holds in another version (a different size)."""
    for path in source.rglob("*"):
        if path.is_dir() or path.suffix == ".md":
            continue
        copy = target / path.relative_to(source)
        if not copy.exists() or copy.stat().st_size != path.stat().st_size:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)


def _rewrite(text: str, page_dir: Path, vendor: Path, images: Path) -> str:
    def local(match: re.Match) -> str:
        url = match["url"]
        if url in CDN_COPIES:
            target = vendor / CDN_COPIES[url]
        elif url.startswith(GX_IMAGES):
            name = url.removeprefix(GX_IMAGES).split("?")[0]
            # The dark-mode logo is not in GX's package; the light one stands in for it.
            target = images / name if (images / name).exists() else images / "logo-long.png"
        else:
            return match.group(0)
        relative = Path(os.path.relpath(target, page_dir)).as_posix()
        return f"{match['quote']}{relative}{match['quote']}"

    text = _ADDRESS.sub(local, text)
    return _INTEGRITY.sub("", text)


_LOADED_FROM_NETWORK = re.compile(
    r"""<(?:script|img)\b[^>]*\bsrc=["'](https?://[^"']+)"""
    r"""|<link\b[^>]*\bhref=["'](https?://[^"']+)"""
    r"""|url\(["']?(https?://[^)"']+)"""
)


def remote_assets(site_dir: Path) -> list[str]:
    """Scripts, stylesheets and images the site would still fetch from the network (links
    a reader may follow are not among them)."""
    found = set()
    for path in [*Path(site_dir).rglob("*.html"), *Path(site_dir).rglob("*.css")]:
        for match in _LOADED_FROM_NETWORK.finditer(path.read_text(encoding="utf-8")):
            found.add(next(g for g in match.groups() if g))
    return sorted(found)
