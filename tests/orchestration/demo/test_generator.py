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


def _lines(path):
    return path.read_text(encoding="utf-8").split("\n")


def test_the_files_are_the_same_whatever_the_number_of_workers(tmp_path):
    params = DemoParams(customers=250, seed=9, shard_customers=100)
    generate(tmp_path / "one" / "landing", tmp_path / "one" / "truth", params, workers=1)
    generate(tmp_path / "two" / "landing", tmp_path / "two" / "truth", params, workers=2)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")


def test_a_demo_within_one_shard_is_the_same_data_whatever_the_shard_size(tmp_path):
    for size in (150, 5_000):
        generate(
            tmp_path / str(size) / "landing",
            tmp_path / str(size) / "truth",
            DemoParams(customers=150, seed=7, shard_customers=size),
        )
    assert _digest(tmp_path / "150" / "landing") == _digest(tmp_path / "5000" / "landing")


def _in_shards(tmp_path, customers: int, seed: int, shard_customers: int) -> None:
    """Generate in several shards, simulated by two worker processes."""
    params = DemoParams(customers=customers, seed=seed, shard_customers=shard_customers)
    generate(tmp_path / "landing", tmp_path / "truth", params, workers=2)


def test_shards_never_share_an_id_and_each_record_belongs_to_one_person(tmp_path):
    _in_shards(tmp_path, 400, seed=4, shard_customers=100)
    persons = pd.read_csv(tmp_path / "truth" / "persons.csv")
    assert len(persons) == 500 and persons["person_key"].is_unique
    assert persons["email"].is_unique
    records = pd.read_csv(tmp_path / "truth" / "records.csv")
    # A CRM duplicate id is the same record twice; apart from it every record has one owner.
    owners = records.drop_duplicates().groupby(["source_table", "record_id"])["person_key"]
    assert owners.nunique().max() == 1
    orders = records[records["source_table"] == "shop_orders"]
    assert orders["record_id"].is_unique
    web = records[records["source_table"] == "web_events"]
    assert web["record_id"].is_unique
    assert set(records["person_key"]) <= set(persons["person_key"])


def test_every_dirty_row_names_the_line_that_holds_it(tmp_path):
    _in_shards(tmp_path, 600, seed=2, shard_customers=150)
    dirty = pd.read_csv(tmp_path / "truth" / "dirty_rows.csv")
    folder = {
        "crm_customers": "crm",
        "shop_orders": "shop",
        "web_events": "web",
        "esp_email_events": "esp",
    }
    files = {}
    checked = 0
    for row in dirty.itertuples():
        path = tmp_path / "landing" / folder[row.table] / row.file
        lines = files.setdefault(path, _lines(path))
        line = lines[row.line - 1]
        if row.reason == "duplicate id":
            key = line.split(",")[0] if path.suffix == ".csv" else json.loads(line)["event_id"]
            previous = lines[row.line - 2]
            assert previous.startswith(key) or key in previous
        elif row.reason == "malformed line":
            if path.suffix == ".jsonl":
                assert not line.endswith("}")
            else:
                assert line.count(",") < lines[0].count(",")
        elif row.reason == "unknown event_type":
            assert "video_play" in line or "scroll_depth" in line or "deferred" in line
        checked += 1
    assert checked == len(dirty) and {"duplicate id", "malformed line"} <= set(dirty["reason"])
