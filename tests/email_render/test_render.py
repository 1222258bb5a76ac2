import pytest
from jinja2 import UndefinedError
from jinja2.sandbox import SecurityError

from email_render.campaign import Campaign, CampaignError, Variant
from email_render.render import Renderer

PRODUCTS = [
    {
        "product_id": "p1",
        "product_name": "Trail Runner",
        "product_url": "https://shop.example.com/p/1",
        "image_url": "https://cdn.example.com/1.jpg",
        "price": 80.0,
    }
]


def _campaign(subject="{{ first_name or 'Hello' }}, picks for you", **overrides):
    fields = dict(
        campaign_id="weekly-picks",
        name="Weekly picks",
        template="weekly_picks",
        variants=(Variant("a", subject), Variant("b", "{{ favourite_category or 'new' }} picks")),
        schedule={"every": "day"},
        utm={"utm_source": "mailpipe", "utm_campaign": "weekly-picks"},
        source_path="campaigns/weekly.yaml",
    )
    fields.update(overrides)
    return Campaign(**fields)


def _recipient(**overrides):
    r = {
        "person_id": "p_1",
        "email": "ann@example.com",
        "first_name": "Ann",
        "favourite_category": "shoes",
        "products": PRODUCTS,
        "unsubscribe_url": "https://u.example.com/x",
        "postal_address": "1 Example St",
        "lifecycle_stage": "active",
        "rfm_segment": "Loyal",
        "loyalty_tier": "silver",
        "country_code": "GB",
        "cart_items": [],
    }
    r.update(overrides)
    return r


def test_email_carries_the_name_products_and_unsubscribe_link():
    email = Renderer(_campaign()).render(_recipient())
    assert email.subject == "Ann, picks for you"
    for body in (email.html, email.text):
        assert "Hi Ann," in body
        assert "Trail Runner" in body
        assert "utm_source=mailpipe" in body
        assert "https://u.example.com/x" in body and "1 Example St" in body


def test_each_variant_gets_its_own_subject():
    renderer = Renderer(_campaign())
    assert renderer.render(_recipient(), "a").subject == "Ann, picks for you"
    assert renderer.render(_recipient(), "b").subject == "shoes picks"


def test_subject_and_preheader_stay_apart_whatever_the_data_holds():
    campaign = _campaign(
        variants=(Variant("a", "{{ first_name }} picks", preheader="For {{ first_name }}"),)
    )
    renderer = Renderer(campaign)
    for name in ("Ann", "A\x00B", "\x00", "Bo\x00\x00"):
        email = renderer.render(_recipient(first_name=name), "a")
        assert (email.subject, email.preheader) == (f"{name} picks", f"For {name}")


def test_missing_data_falls_back_to_friendly_defaults():
    email = Renderer(_campaign()).render(
        _recipient(first_name=None, favourite_category=None, products=[])
    )
    assert email.subject == "Hello, picks for you"
    assert "Hi there," in email.html and "Hi there," in email.text
    assert "new arrivals" in email.html


def test_customer_data_with_markup_or_template_syntax_comes_out_as_text():
    email = Renderer(_campaign()).render(
        _recipient(first_name="<script>alert(1)</script>{{ 7*7 }}")
    )
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert "{{ 7*7 }}" in email.html and "49" not in email.html


def test_a_template_naming_an_unknown_field_fails_instead_of_rendering_blank():
    with pytest.raises(CampaignError) as error:
        Renderer(_campaign(subject="Hi {{ nickname }}")).render(_recipient())
    assert isinstance(error.value.__cause__, UndefinedError)
    assert "variant 'a': cannot render" in str(error.value) and "'nickname'" in str(error.value)


def test_validation_finds_unknown_fields_in_templates_and_subjects_before_any_send():
    fields = {
        "person_id",
        "email",
        "first_name",
        "favourite_category",
        "products",
        "lifecycle_stage",
        "rfm_segment",
        "loyalty_tier",
        "country_code",
    }
    Renderer(_campaign()).validate(fields)
    with pytest.raises(
        CampaignError, match=r"campaigns/weekly.yaml: field 'variants\[0\].subject': uses nickname"
    ):
        Renderer(_campaign(subject="Hi {{ nickname }}")).validate(fields)
    with pytest.raises(
        CampaignError,
        match=r"field 'template': template 'weekly_picks.html' uses favourite_category",
    ):
        Renderer(_campaign()).validate(fields - {"favourite_category"})


def test_validation_finds_item_attributes_no_product_has_before_any_send():
    fields = {"person_id", "email", "first_name", "products", "cart_items", "browsed_items"}
    fields |= {"favourite_category", "lifecycle_stage", "rfm_segment", "loyalty_tier"}
    fields |= {"country_code"}
    product = {"product_id", "product_name", "product_url", "image_url", "price"}
    items = {"products": product, "cart_items": product, "browsed_items": product}
    Renderer(_campaign(subject="{{ products[0].product_name }}")).validate(fields, items)
    for subject, field in (
        ("{{ products[0].product_nme }}", "products[].product_nme"),
        ("{% for p in cart_items %}{{ p['prize'] }}{% endfor %}", "cart_items[].prize"),
    ):
        with pytest.raises(CampaignError) as error:
            Renderer(_campaign(subject=subject)).validate(fields, items)
        assert f"field 'variants[0].subject': uses {field}, which its items do not have" in str(
            error.value
        )


def test_a_jinja_syntax_error_names_the_file_and_the_variant_or_template(tmp_path):
    with pytest.raises(CampaignError) as error:
        Renderer(_campaign(subject="{{ first_name "))
    assert str(error.value).startswith("campaigns/weekly.yaml: field 'variants[0].subject': ")
    (tmp_path / "broken.html").write_text("<p>\n{% if first_name %}Hi\n</p>\n")
    (tmp_path / "broken.txt").write_text("Hi\n")
    with pytest.raises(CampaignError) as error:
        Renderer(_campaign(template="broken"), templates_dir=tmp_path)
    assert str(error.value).startswith(
        "campaigns/weekly.yaml: field 'template': template 'broken.html', line "
    )
    assert "Unexpected end of template" in str(error.value)


def test_templates_cannot_reach_python_internals():
    renderer = Renderer(_campaign(subject="{{ ''.__class__.__mro__[1].__subclasses__() }}"))
    with pytest.raises(CampaignError) as error:
        renderer.render(_recipient())
    assert isinstance(error.value.__cause__, SecurityError)


def test_blocks_follow_the_segment_and_attributes():
    renderer = Renderer(_campaign())
    champion = renderer.render(
        _recipient(
            rfm_segment="Champions", loyalty_tier="gold", country_code="DE", cart_items=PRODUCTS
        )
    )
    assert (
        "one of our very best customers" in champion.html
        and "one of our very best customers" in champion.text
    )
    assert "As a gold member" in champion.html and "THANKYOU15" in champion.text
    assert "Still in your cart" in champion.html and "Still in your cart" in champion.text
    assert "Kostenloser Versand" in champion.html
    lapsed = renderer.render(
        _recipient(
            lifecycle_stage="lapsed", rfm_segment="Lost", loyalty_tier=None, country_code=None
        )
    )
    assert "It has been a while" in lapsed.html
    assert "THANKYOU15" not in lapsed.html and "Still in your cart" not in lapsed.html
    assert (
        "Free shipping on orders over 50 EUR." in lapsed.html
        and "Free shipping on orders over 50 EUR." in lapsed.text
    )


def test_a_loyal_customer_without_a_tier_is_a_valued_member():
    email = Renderer(_campaign()).render(_recipient(loyalty_tier=None, rfm_segment="Champions"))
    assert "As a valued member" in email.html


def test_css_is_inlined_once_per_template_not_once_per_recipient(monkeypatch):
    import css_inline

    calls = {"n": 0}
    original = css_inline.inline_fragment

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(css_inline, "inline_fragment", counting)
    renderer = Renderer(_campaign())
    for i in range(50):
        html = renderer.render(_recipient(person_id=f"p_{i}")).html
    assert 0 < calls["n"] <= 10  # one per HTML template file, however many recipients
    assert 'class="greeting" style="' in html and "<style" not in html
