import pickle

from email_render.batch import RecipientExtras, picklable, recipients


def test_recipient_extras_travel_to_export_workers_and_lambdas_fall_back():
    extras = RecipientExtras("weekly", "Street 1", "https://u.example.com/unsubscribe")
    assert picklable(extras) and pickle.loads(pickle.dumps(extras)) == extras
    assert not picklable(lambda r: {})  # rows are then built in the exporting process
    link = extras({"person_id": "p1"})["unsubscribe_url"]
    assert link.startswith("https://u.example.com/unsubscribe?p=p1&c=weekly&t=")
    assert link == extras({"person_id": "p1"})["unsubscribe_url"]  # stable per person


def test_rows_become_recipients_with_empty_lists_for_missing_blocks():
    rows = recipients(
        [{"_batch_no": 3, "person_id": "p1", "products": None, "cart_items": None}],
        RecipientExtras("weekly", "Street 1", "https://u.example.com/"),
    )
    assert "_batch_no" not in rows[0]
    assert rows[0]["products"] == [] and rows[0]["browsed_items"] == []
    assert rows[0]["postal_address"] == "Street 1"
