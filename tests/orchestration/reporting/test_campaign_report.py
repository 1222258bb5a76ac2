import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd

from ml import experiments
from orchestration.reporting import campaign_report


class _Tables(HTMLParser):
    """The page's tables by the id of the heading above them, as lists of row dicts."""

    def __init__(self):
        super().__init__()
        self.tables, self._section, self._row, self._cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._section = dict(attrs).get("id")
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr":
            rows = self.tables.setdefault(self._section, [])
            rows.append(self._row)
        elif tag == "table":
            header, *body = self.tables[self._section]
            self.tables[self._section] = [dict(zip(header, r, strict=True)) for r in body]


def _metrics():
    """Two finished campaigns that both name their variants a and b, and one sent today."""
    rng = np.random.default_rng(5)
    closes = {"spring": "2026-03-08", "summer": "2026-06-08", "today": "2026-12-08"}
    rows = []
    for campaign, rate in (("spring", 0.09), ("summer", 0.03), ("today", 0.05)):
        for variant, n in (("a", 3_000), ("b", 3_000), ("holdout", 600)):
            for stage in ("active", "at_risk"):
                delivered = 0 if variant == "holdout" or campaign == "today" else n
                rows.append(
                    {
                        "campaign_id": campaign,
                        "variant": variant,
                        "lifecycle_stage_at_assignment": stage,
                        "recipients": n,
                        "delivered": delivered,
                        "opened": delivered // 3,
                        "clicked": delivered // 10,
                        "unsubscribed": delivered // 200,
                        "complained": delivered // 1000,
                        "visited_7d": n // 4,
                        "converted_7d": int(rng.binomial(n, rate)),
                        "revenue_7d_eur": 100.0,
                        "revenue_7d_sq_eur": 100.0 * 100.0 + 50.0 * 50.0,
                        "attributed_orders": 0,
                        "attributed_revenue_eur": 0.0,
                        "window_closes_at": pd.Timestamp(closes[campaign]),
                        "is_window_closed": campaign != "today",
                    }
                )
    return pd.DataFrame(rows)


def _page(tmp_path, metrics):
    path = tmp_path / "report.html"
    built = campaign_report.build(metrics, path)
    parser = _Tables()
    parser.feed(path.read_text())
    return built, path.read_text(), parser.tables


def test_every_comparison_on_the_page_is_the_one_ml_experiments_computes(tmp_path):
    metrics = _metrics()
    _, page, tables = _page(tmp_path, metrics)
    expected = experiments.compare_with_holdout(metrics)
    shown = {(r["campaign"], r["variant"]): r for r in tables["comparisons"]}
    assert len(shown) == len(expected) == 5  # a and b of two campaigns, and mailed pooled
    for row in expected.itertuples():
        on_page = shown[(row.campaign_id, row.variant)]
        assert on_page["conversion"] == f"{row.rate:.1%}"
        assert on_page["holdout conversion"] == f"{row.holdout_rate:.1%}"
        assert on_page["difference"] == f"{row.difference * 100:+.2f} pp"
        assert on_page["recipients"] == f"{row.recipients:,}"
        assert on_page["p-value"] == campaign_report.p_value(row.p_value)
        assert on_page["p-value, Holm"] == campaign_report.p_value(row.p_value_holm)
    text = re.sub(r'src="data:image/png;base64,[^"]+"', "", page)  # base64 may spell NaN
    assert "NaN" not in text and "nan" not in text.lower()
    visits = experiments.compare_with_holdout(metrics, outcome="visited_7d")
    shown_visits = {(r["campaign"], r["variant"]): r for r in tables["visits"]}
    for row in visits.itertuples():
        assert shown_visits[(row.campaign_id, row.variant)]["visit rate"] == f"{row.rate:.1%}"
    complaints = {(r["campaign"], r["variant"]): r for r in tables["complaints"]}
    low, high = experiments.wilson_interval(2 * 15, 2 * 3_000)
    assert complaints[("spring", "a")]["unsubscribe 95% interval (Wilson)"] == (
        f"{low:.2%} to {high:.2%}"
    )
    revenue = experiments.compare_revenue_with_holdout(metrics)
    on_page = {(r["campaign"], r["variant"]): r for r in tables["revenue"]}
    assert len(on_page) == len(revenue) == 4
    for row in revenue.itertuples():
        shown = on_page[(row.campaign_id, row.variant)]
        assert shown["revenue per recipient"] == f"€{row.mean:,.2f}"
        assert shown["difference"] == f"€{row.difference:+,.2f}"


def test_a_campaign_whose_window_is_open_is_listed_with_its_counts_so_far_not_compared(
    tmp_path,
):
    metrics = _metrics()
    built, _, tables = _page(tmp_path, metrics)
    assert "today" not in {r["campaign"] for r in tables["comparisons"]}
    still_open = {(r["campaign_id"], r["variant"]): r for r in tables["open"]}
    assert set(still_open) == {("today", "a"), ("today", "b"), ("today", "holdout")}
    today_a = metrics[(metrics["campaign_id"] == "today") & (metrics["variant"] == "a")]
    assert still_open[("today", "a")]["converted in 7 days"].startswith(
        f"{today_a['converted_7d'].sum():,} ("
    )
    assert still_open[("today", "a")]["window"].startswith("window open until 2026-12-08")
    pooled = built["analysis"].query("campaign_id == @experiments.POOLED").iloc[0]
    assert pooled["recipients"] == 4 * 6_000  # spring and summer's a and b, not today's


def test_variants_named_alike_stay_apart_in_every_breakdown(tmp_path):
    _, _, tables = _page(tmp_path, _metrics())
    by_stage = tables["by-stage"]
    assert {(r["campaign_id"], r["variant"]) for r in by_stage} >= {
        ("spring", "a"),
        ("summer", "a"),
    }
    spring_a = [r for r in by_stage if (r["campaign_id"], r["variant"]) == ("spring", "a")]
    assert [r["recipients"] for r in spring_a] == ["3,000", "3,000"]
    mailed = [
        r for r in tables["by-arm"] if r["variant"] != "holdout" and r["campaign_id"] != "today"
    ]
    assert len(mailed) == 4 and all(r["open rate"] == "33.3%" for r in mailed)
    holdout = next(r for r in tables["by-arm"] if r["variant"] == "holdout")
    assert holdout["open rate"] == campaign_report.MISSING  # nobody was mailed: no rate


def test_what_the_mail_bought_is_each_difference_times_the_arms_recipients(tmp_path):
    metrics = _metrics()
    built, _, tables = _page(tmp_path, metrics)
    bought = {(r["campaign"], r["variant"]): r for r in tables["incremental"]}
    for row in built["analysis"].itertuples():
        shown = bought[(row.campaign_id, row.variant)]
        assert shown["incremental conversions"] == f"{row.difference * row.recipients:+,.1f}"
        assert shown["95% interval"] == (
            f"{row.difference_low * row.recipients:+,.1f} to"
            f" {row.difference_high * row.recipients:+,.1f}"
        )
    # Revenue is never pooled across campaigns, so the pooled row has none.
    assert bought[(experiments.POOLED, experiments.MAILED)]["incremental revenue"] == "—"
    revenue = experiments.compare_revenue_with_holdout(metrics).set_index(
        ["campaign_id", "variant"]
    )
    spring_a = revenue.loc[("spring", "a")]
    assert bought[("spring", "a")]["incremental revenue"] == f"€{spring_a.difference * 6_000:+,.0f}"


def test_the_uplift_section_draws_the_latest_campaigns_qini_or_says_why_not(tmp_path):
    metrics = _metrics().assign(
        first_assigned_at=lambda m: m["window_closes_at"] - pd.Timedelta(days=7)
    )
    _, page, _ = _page(tmp_path, metrics)
    assert "No uplift model has been trained on this data" in page
    rng = np.random.default_rng(2)
    n = 2_000
    responds = rng.random(n) < 0.3
    scores = pd.DataFrame(
        {
            "campaign_id": np.where(np.arange(n) < n // 2, "spring", "summer"),
            "person_id": [f"p{i}" for i in range(n)],
            "is_mailed": rng.random(n) < 0.8,
            "uplift": responds + rng.normal(0, 0.3, n),
            "propensity": rng.random(n),
        }
    )
    scores["has_converted"] = (responds & scores["is_mailed"]).astype(int)
    path = tmp_path / "with_uplift.html"
    campaign_report.build(metrics, path, scores)
    parser = _Tables()
    parser.feed(path.read_text())
    qini = {r["campaign"]: r for r in parser.tables["uplift"]}
    assert set(qini) == {"spring", "summer"}
    assert (
        float(qini["summer"]["Qini, by uplift"])
        > 0.5
        > float(qini["summer"]["Qini, by propensity"])
    )
    assert 'alt="Qini curve"' in path.read_text()


def test_each_segment_at_assignment_is_set_against_the_holdout_of_that_segment(tmp_path):
    segments = pd.DataFrame(
        {
            "campaign_id": ["spring"] * 3 + ["today"],
            "variant": ["a", "holdout", "a", "a"],
            "is_holdout": [False, True, False, False],
            "segment_at_assignment": ["lapsed_buyers", "lapsed_buyers", "vip", "vip"],
            "recipients": [400, 50, 100, 10],
            "conversion_rate_7d": [0.10, 0.04, 0.2, 0.5],
            "is_window_closed": [True, True, True, False],
        }
    )
    path = tmp_path / "report.html"
    campaign_report.build(_metrics(), path, segments=segments)
    parser = _Tables()
    parser.feed(path.read_text())
    shown = {(r["campaign"], r["segment at assignment"]): r for r in parser.tables["by-segment"]}
    assert set(shown) == {("spring", "lapsed_buyers"), ("spring", "vip")}, "today is still open"
    assert shown[("spring", "lapsed_buyers")]["difference"] == "+6.00 pp"
    assert shown[("spring", "vip")]["holdout conversion"] == "—"
