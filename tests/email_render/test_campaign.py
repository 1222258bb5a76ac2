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
        (("holdout_share: 0.1", "holdout_share: 0.1\npriority: high"), "priority"),
    ],
)
def test_a_campaign_with_an_error_is_rejected_naming_the_file_and_field(tmp_path, change, field):
    path = tmp_path / "bad.yaml"
    path.write_text(VALID.replace(*change))
    with pytest.raises(CampaignError) as error:
        load_campaign(path, TEMPLATES_DIR)
    assert str(path) in str(error.value)
    assert f"'{field}'" in str(error.value)


def test_a_misspelled_field_is_an_error_with_the_name_it_probably_meant(tmp_path):
    # Ignored, `holdout_shar` would have meant no control group at all.
    path = tmp_path / "typo.yaml"
    path.write_text(VALID.replace("holdout_share: 0.1", "holdout_shar: 0.1"))
    with pytest.raises(CampaignError) as error:
        load_campaign(path, TEMPLATES_DIR)
    assert f"{path}: field 'holdout_shar': unknown field (did you mean 'holdout_share'?)" in str(
        error.value
    )


def test_every_error_in_a_campaign_file_is_reported_at_once(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(
        VALID.replace("template: weekly_picks", "template: nope")
        .replace("holdout_share: 0.1", "holdout_share: 2")
        .replace('{name: a, subject: "Hi {{ first_name }}"}', '{name: a, subjet: "Hi"}')
        .replace("days: [monday]", "day: [monday]")
        .replace("name: Spring sale", "name: Spring sale\nminsize: 5")
    )
    with pytest.raises(CampaignError) as error:
        load_campaign(path, TEMPLATES_DIR)
    lines = str(error.value).splitlines()
    assert [line.split("'")[1] for line in lines] == [
        "minsize",
        "template",
        "variants[0].subjet",
        "holdout_share",
        "schedule.day",
    ]
    assert "did you mean 'subject'?" in lines[2] and "did you mean 'days'?" in lines[4]
