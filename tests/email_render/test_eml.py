from datetime import datetime
from email import message_from_bytes, policy

from email_render.eml import build_message, message_id

UNSUBSCRIBE = "https://shop.example.com/unsubscribe?p=p_0086ee806276595c&c=win-back&t=a89d0b07cc560ae9d3a5f2c1"


def _message(subject="Hi Ann, ünïcode"):
    raw = build_message(
        sender="Shop <news@shop.example.com>",
        recipient="ann@example.com",
        subject=subject,
        text="Hi Ann",
        html="<p>Hi Ann</p>",
        msg_id=message_id("win-back", "p_1", "2026-10-31", "shop.example.com"),
        unsubscribe_url=UNSUBSCRIBE,
        unsubscribe_mailto="unsubscribe+win-back@shop.example.com",
        sent_at=datetime(2026, 10, 31),
        campaign_id="win-back",
        variant="b",
    )
    return raw, message_from_bytes(raw, policy=policy.default)


def test_a_message_is_multipart_alternative_with_one_click_unsubscribe():
    raw, msg = _message()
    assert msg.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in msg.iter_parts()] == ["text/plain", "text/html"]
    assert (
        msg["List-Unsubscribe"]
        == f"<{UNSUBSCRIBE}>, <mailto:unsubscribe+win-back@shop.example.com>"
    )
    assert f"List-Unsubscribe: <{UNSUBSCRIBE}>".encode() in raw  # plain, not encoded words
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Subject"] == "Hi Ann, ünïcode"
    assert msg["Date"].endswith("+0000")


def test_the_same_send_always_carries_the_same_message_id():
    assert message_id("c", "p", "2026-10-31", "d.com") == message_id(
        "c", "p", "2026-10-31", "d.com"
    )
    assert message_id("c", "p", "2026-10-31", "d.com") != message_id(
        "c", "p", "2026-11-01", "d.com"
    )
    assert _message()[1]["Message-ID"].endswith("@shop.example.com>")


def test_bodies_survive_the_round_trip_and_headers_cannot_be_injected():
    text = "Hi Ann,\nÄpfel & Birnen: 12.50 EUR\n" + "a very long line " * 20
    raw = build_message(
        sender="Shop <news@shop.example.com>",
        recipient="ann@example.com",
        subject="Evil\r\nBcc: victim@example.com",
        text=text,
        html="<p>Äpfel</p>",
        msg_id="<1@x.com>",
        unsubscribe_url=UNSUBSCRIBE,
        unsubscribe_mailto="u@x.com",
        sent_at=datetime(2026, 10, 31),
        campaign_id="c",
        variant="a",
    )
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Bcc"] is None and msg["Subject"] == "Evil  Bcc: victim@example.com"
    plain, html = [part.get_content() for part in msg.iter_parts()]
    assert plain.replace("\r\n", "\n") == text and html.strip() == "<p>Äpfel</p>"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
