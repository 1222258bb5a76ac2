import hashlib
import json

import pandas as pd

from orchestration.demo.generator import DemoParams, generate


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_writes_identical_files(tmp_path):
    for run in ("a", "b"):
        generate(
            tmp_path / run / "landing", tmp_path / run / "truth", DemoParams(customers=150, seed=7)
        )
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_another_seed_writes_other_data(tmp_path):
    generate(
        tmp_path / "a" / "landing", tmp_path / "a" / "truth", DemoParams(customers=150, seed=7)
    )
    generate(
        tmp_path / "b" / "landing", tmp_path / "b" / "truth", DemoParams(customers=150, seed=8)
    )
    assert _digest(tmp_path / "a" / "landing") != _digest(tmp_path / "b" / "landing")


def test_every_source_lands_with_ground_truth(tmp_path):
    generate(tmp_path / "landing", tmp_path / "truth", DemoParams(customers=300, seed=3))
    for source, pattern in [
        ("crm", "customers*.csv"),
        ("web", "events*.jsonl"),
        ("shop", "orders*.csv"),
        ("shop", "order_items*.csv"),
        ("shop", "products*.csv"),
        ("esp", "email_events*.csv"),
    ]:
        assert list((tmp_path / "landing" / source).glob(pattern)), f"no {source}/{pattern}"
    truth = json.loads((tmp_path / "truth" / "params.json").read_text())
    assert truth["params"]["bgnbd_r"] > 0 and truth["params"]["gg_p"] > 0
    records = pd.read_csv(tmp_path / "truth" / "records.csv")
    assert set(records["source_table"]) == {
        "crm_customers",
        "web_events",
        "shop_orders",
        "esp_email_events",
    }


def test_orders_include_guest_checkouts_that_carry_only_an_email(tmp_path):
    generate(tmp_path / "landing", tmp_path / "truth", DemoParams(customers=300, seed=3))
    orders = pd.concat(
        pd.read_csv(p, dtype=str, keep_default_na=False, on_bad_lines="skip")
        for p in (tmp_path / "landing" / "shop").glob("orders_*.csv")
    )
    guests = orders[orders["customer_id"] == ""]
    assert len(guests) > 0
    assert (guests["email"].str.contains("@")).all()


def test_engaged_people_buy_more(tmp_path):
    generate(tmp_path / "landing", tmp_path / "truth", DemoParams(customers=1500, seed=5))
    people = pd.read_csv(tmp_path / "truth" / "persons.csv")
    buyers = people[people["kind"] != "visitor"]
    engaged = buyers["engagement"] > buyers["engagement"].median()
    assert buyers.loc[engaged, "n_orders"].mean() > 1.2 * buyers.loc[~engaged, "n_orders"].mean()
