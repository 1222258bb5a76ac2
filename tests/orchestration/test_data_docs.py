"""Data Docs as a reader opens them: from disk, with the network cut off."""

import pandas as pd
import pytest

from orchestration import data_docs, quality
from tests import headless_chromium


def _audience(emails):
    return pd.DataFrame(
        {
            "person_id": [f"p{i}" for i in range(len(emails))],
            "email": emails,
            "has_marketing_consent": [True] * len(emails),
        }
    )


def _sizes():
    return pd.DataFrame(
        {
            "segment_name": ["likely_buyers", "loyal_buyers"],
            "owner": ["data-science", "crm"],
            "min_size": [10, 10],
            "max_members": [500, 500],
            "members": [2, 210],
        }
    )


@pytest.fixture
def site(tmp_path):
    """A GX site with a passing validation, one that fails on an email, and segment sizes."""
    context = tmp_path / "gx"
    quality.validate(context, "send_audience", _audience(["ann@example.com", "ben@example.com"]))
    failed = quality.validate(
        context, "send_audience", _audience(["ann@example.com", "not-an-email-of-zoe"])
    )
    sizes = _sizes()
    segments = quality.validate(
        context,
        "segment_sizes",
        quality.segment_size_frame(sizes),
        expectations=quality.segment_size_expectations(sizes),
    )
    return {"dir": failed.docs_path.parents[4], "failed": failed, "segments": segments}


def test_no_page_or_stylesheet_loads_anything_from_the_network(site):
    assert data_docs.remote_assets(site["dir"]) == []
    assert (site["dir"] / data_docs.VENDOR / "jquery@3.7.1" / "jquery.min.js").is_file()


def test_a_check_links_to_its_own_validation_page_which_counts_and_never_lists_values(site):
    failed = site["failed"]
    assert "validations" in failed.docs_path.parts and failed.docs_path.is_file()
    regex = next(f for f in failed.failures if f.column == "email")
    assert regex.observed == "1"
    page = failed.docs_path.read_text()
    assert "not-an-email-of-zoe" not in page
    assert "ann@example.com" not in page


def test_a_segment_out_of_bounds_is_named_in_the_failure():
    sizes = _sizes()
    expectations = quality.segment_size_expectations(sizes)
    assert [e.column for e in expectations] == ["likely_buyers", "loyal_buyers"]
    frame = quality.segment_size_frame(sizes)
    assert frame.to_dict("records") == [{"likely_buyers": 2, "loyal_buyers": 210}]


def _offline_page(browser):
    """A page on which any request off the disk fails, and which records it."""
    page = browser.new_page()
    attempted, errors = [], []

    def only_files(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    page.route("**/*", only_files)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, attempted, errors


def _is_styled(page) -> bool:
    """Bootstrap lays rows out as flex boxes, and Font Awesome's icon font is there; without
    them (a CDN out of reach) rows are blocks and icons fall back to the default font."""
    row, icon = page.evaluate(
        """[getComputedStyle(document.querySelector('.row')).display,
            getComputedStyle(document.querySelector('.fas, .far, .fa')).fontFamily]"""
    )
    return row == "flex" and "Font Awesome" in icon


def test_the_index_lists_every_validation_and_the_pages_are_styled_with_no_network(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = headless_chromium.launch(playwright)
        try:
            page, attempted, errors = _offline_page(browser)
            page.goto((site["dir"] / "index.html").as_uri())
            rows = page.locator("table tbody tr")
            rows.first.wait_for(timeout=10_000)
            listed = " ".join(rows.all_inner_texts())
            assert listed.count("send_audience") >= 2 and "segment_sizes" in listed
            assert _is_styled(page)
            page.goto(site["segments"].docs_path.as_uri())
            assert _is_styled(page)
            body = page.inner_text("body")
            assert "likely_buyers" in body and "loyal_buyers" in body
            assert attempted == [] and errors == []
        finally:
            browser.close()
