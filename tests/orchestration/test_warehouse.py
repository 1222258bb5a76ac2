import pandas as pd

from orchestration.warehouse import mask, preview_markdown


def test_previews_in_the_ui_mask_emails_and_phones():
    assert mask("anna.schmidt@example.com") == "a***@example.com"
    assert mask("+49 151 2345 6789") == "***89"
    frame = pd.DataFrame(
        {"person_id": ["p_1"], "email": ["bob@example.org"], "phone": ["(0151) 234-5678"], "n": [3]}
    )
    text = preview_markdown(frame)
    assert "bob@" not in text and "b***@example.org" in text
    assert "234-5678" not in text and "p_1" in text and "3" in text
