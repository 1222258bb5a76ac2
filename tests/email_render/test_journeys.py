"""A journey file the schema does not fit is rejected with every unknown field named."""

import pytest

from email_render.campaign import CampaignError
from email_render.journeys import load_journey
from email_render.render import TEMPLATES_DIR


def test_misspelled_journey_and_step_fields_are_all_named_with_a_suggestion(tmp_path):
    path = tmp_path / "cart.yaml"
    path.write_text(
        "journey_id: cart\ntrigger: cart_abandoned\nexit_on_purchse: false\nsteps:\n"
        "  - {name: one, after_hour: 1, template: journey_cart, subject: x}\n"
        "  - name: two\n    after_hours: 24\n    template: journey_cart\n    subject: y\n"
        "    opened_not_clicked: {subjects: z}\n"
    )
    with pytest.raises(CampaignError) as error:
        load_journey(path, TEMPLATES_DIR)
    message = str(error.value)
    assert (
        f"{path}: field 'exit_on_purchse': unknown field (did you mean 'exit_on_purchase'?)"
        in message
    )
    assert "field 'steps[0].after_hour': unknown field (did you mean 'after_hours'?)" in message
    assert (
        "field 'steps[1].opened_not_clicked.subjects': unknown field (did you mean 'subject'?)"
        in message
    )
    # The step without after_hours is an error of its own, reported with the rest.
    assert "field 'steps[0].after_hours': must be hours from 0, got None" in message
