import pytest

from email_render.campaign import Campaign, CampaignError, Variant, read_campaigns
from email_render.journeys import read_journeys
from email_render.render import TEMPLATES_DIR
from orchestration import settings
from orchestration.segments.rules import load_segments
from orchestration.sends import source_needs


@pytest.fixture(scope="module")
def library():
    return load_segments(settings.segments_dir())


@pytest.fixture(scope="module")
def sources_of():
    return source_needs.column_sources(settings.dbt_project_dir() / "models")


def _campaign(**kwargs) -> Campaign:
    return Campaign("c", "C", "weekly_picks", (Variant("a", "s", "p"),), **kwargs)


def test_the_dbt_project_marks_the_browsing_columns_as_web(sources_of):
    assert sources_of["last_seen_at"] == "web"
    assert sources_of["is_cart_abandoner_24h"] == "web"
    assert "order_count" not in sources_of


def test_a_newsletter_without_a_browsing_audience_does_not_wait_for_the_web(library, sources_of):
    campaigns, broken = read_campaigns(settings.campaigns_dir(), TEMPLATES_DIR)
    assert not broken
    picks = next(c for c in campaigns if c.campaign_id == "weekly-picks")
    assert source_needs.campaign_needs(picks, library, sources_of) == {"crm", "esp", "shop"}


def test_an_audience_on_browsing_needs_the_web_through_the_segments_it_names(library, sources_of):
    direct = _campaign(audience={"field": "last_seen_at", "within_days": 7})
    nested = _campaign(audience={"all": [{"not": {"segment": "viewed_not_bought_7d"}}]})
    for campaign in (direct, nested):
        assert "web" in source_needs.campaign_needs(campaign, library, sources_of)


def test_a_campaign_can_declare_a_source_and_an_unknown_one_is_an_error(library, sources_of):
    declared = _campaign(requires_sources=("web",))
    assert "web" in source_needs.campaign_needs(declared, library, sources_of)
    with pytest.raises(CampaignError, match="unknown source.*'webb'"):
        source_needs.campaign_needs(_campaign(requires_sources=("webb",)), library, sources_of)


def test_abandonment_journeys_need_the_web_and_the_welcome_series_does_not(library, sources_of):
    journeys, broken = read_journeys(settings.journeys_dir(), TEMPLATES_DIR)
    assert not broken
    needs = {j.journey_id: source_needs.journey_needs(j, library, sources_of) for j in journeys}
    assert "web" in needs["cart-abandonment"] and "web" in needs["browse-abandonment"]
    assert "web" not in needs["welcome"]
