from datetime import date

import pytest

from email_render.campaign import CampaignError, load_campaign, load_campaigns
from email_render.render import TEMPLATES_DIR
from orchestration import settings

VALID = """
campaign_id: spring-sale
name: Spring sale
template: weekly_picks
schedule: {every: week, days: [monday]}
holdout_share: 0.1
variants:
  - {name: a, subject: "Hi {{ first_name }}"}
  - {name: b, subject: "Spring is here", weight: 2}
audience: {segment: recent_buyers}
"""


def test_the_shipped_campaigns_load():
    campaigns = load_campaigns(settings.campaigns_dir(), TEMPLATES_DIR)
    assert [c.campaign_id for c in campaigns] == ["weekly-picks", "win-back"]


def test_a_campaign_file_names_its_variants_holdout_and_schedule(tmp_path):
    path = tmp_path / "spring.yaml"
    path.write_text(VALID)
    campaign = load_campaign(path, TEMPLATES_DIR)
    assert [v.name for v in campaign.variants] == ["a", "b"] and campaign.variants[1].weight == 2
    assert campaign.holdout_share == 0.1 and campaign.audience == {"segment": "recent_buyers"}
    assert campaign.is_due(date(2026, 11, 2)) and not campaign.is_due(date(2026, 11, 3))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('subject: "Hi {{ first_name }}"', "preheader: x"), "variants[0].subject"),
        (("template: weekly_picks", "template: nope"), "template"),
        (("campaign_id: spring-sale", "campaign_id: Spring Sale!"), "campaign_id"),
        (("days: [monday]", "days: [someday]"), "schedule.days"),
        (("holdout_share: 0.1", "holdout_share: 1.5"), "holdout_share"),
        (("weight: 2", "weight: -1"), "variants[1].weight"),
        (("name: b,", "name: a,"), "variants[1].name"),
        (("audience: {segment: recent_buyers}", "audience: everyone"), "audience"),
    ],
)
def test_a_campaign_with_an_error_is_rejected_naming_the_file_and_field(tmp_path, change, field):
    path = tmp_path / "bad.yaml"
    path.write_text(VALID.replace(*change))
    with pytest.raises(CampaignError) as error:
        load_campaign(path, TEMPLATES_DIR)
    assert str(path) in str(error.value)
    assert f"'{field}'" in str(error.value)
