import pytest

from email_render.campaign import CampaignError, load_campaign, load_campaigns
from email_render.render import TEMPLATES_DIR
from orchestration.lib import settings

VALID = """
campaign_id: spring-sale
name: Spring sale
template: weekly_picks
subject: "Hi {{ first_name }}"
audience: {all_of: [is_marketable]}
"""


def test_the_shipped_campaigns_load():
    assert [c.campaign_id for c in load_campaigns(settings.campaigns_dir(), TEMPLATES_DIR)] == [
        "weekly-picks"
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('subject: "Hi {{ first_name }}"\n', ""), "subject"),
        (("template: weekly_picks", "template: nope"), "template"),
        (("campaign_id: spring-sale", "campaign_id: Spring Sale!"), "campaign_id"),
        (("[is_marketable]", "[is_rich]"), "audience.all_of"),
    ],
)
def test_a_campaign_with_an_error_is_rejected_naming_the_file_and_field(tmp_path, change, field):
    path = tmp_path / "bad.yaml"
    path.write_text(VALID.replace(*change))
    with pytest.raises(CampaignError) as error:
        load_campaign(path, TEMPLATES_DIR)
    assert str(path) in str(error.value)
    assert f"'{field}'" in str(error.value)
