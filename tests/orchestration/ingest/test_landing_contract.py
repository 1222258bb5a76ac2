from orchestration import settings
from orchestration.ingest.landing import LANDING_TABLES


def test_the_documented_landing_contract_matches_the_loader():
    doc = (settings.PROJECT_ROOT / "docs" / "landing_contract.md").read_text()
    for table in LANDING_TABLES:
        assert f"`{table.source}/{table.pattern}` → `raw.{table.name}`" in doc
        for column in table.columns:
            row = f"| `{column.name}` | {column.type} | {'yes' if column.required else ''} |"
            section = doc.split(f"`raw.{table.name}`", 1)[1].split("###", 1)[0]
            assert row in section, f"{table.name}.{column.name} is documented differently"


def test_only_id_timestamp_and_amount_of_orders_are_required():
    orders = next(t for t in LANDING_TABLES if t.name == "shop_orders")
    assert orders.required_columns == ["order_id", "ordered_at", "total_amount"]
