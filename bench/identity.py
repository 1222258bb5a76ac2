"""`make bench-identity`: identity resolution at scale, on synthetic records drawn in memory.

N CRM records (5% of them a second record of the same person, with the typos, swaps,
missing fields and mistyped birth dates real CRMs have), each person's orders, browsers and
email recipient rows, written straight into the raw tables; then dbt builds identity
resolution (Splink's probabilistic matching, the deterministic identifiers, the person
ids). Prints wall time and the dbt child's peak memory, the probabilistic model's own time
from dbt's run results, and pairwise precision and recall against the synthetic truth.
The names follow a Zipf law, so common names make the large blocks real data has."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from orchestration import settings
from orchestration.identity.evaluation import identity_scores
from orchestration.ingest.raw_schema import ensure_raw_schema

SYLLABLES = ["an", "be", "ca", "do", "el", "fi", "ga", "ho", "ir", "jo", "ka", "li", "ma",
             "no", "ol", "pe", "ra", "si", "ta", "ul", "ve", "wi", "ya", "ze", "mar", "son",
             "ber", "ton", "ley", "ric", "tin", "lan"]  # fmt: skip
CITIES = 2_000


def _names(rng: np.random.Generator, distinct: int, size: int) -> np.ndarray:
    parts = rng.choice(SYLLABLES, (distinct, 3))
    pool = np.unique(np.char.add(np.char.add(parts[:, 0], parts[:, 1]), parts[:, 2]))
    # The commonest name is a few percent of people, as in real populations.
    weights = 1 / (np.arange(1, len(pool) + 1) + len(pool) / 500)
    return rng.choice(pool, size, p=weights / weights.sum())


def _typo(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    out = values.astype(object).copy()
    for i, value in enumerate(out):
        if not value or len(value) < 3:
            continue
        at = int(rng.integers(1, len(value) - 1))
        kind = rng.integers(0, 3)
        if kind == 0:
            out[i] = value[:at] + value[at + 1 :]
        elif kind == 1:
            out[i] = value[:at] + value[at + 1] + value[at] + value[at + 2 :]
        else:
            out[i] = value[:at] + "x" + value[at:]
    return out


def synthetic_crm(records: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    people = int(records / 1.05)
    birth = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 65 * 365, people), "D")
    crm = pd.DataFrame(
        {
            "person_key": np.arange(people),
            "customer_id": [f"C{i}" for i in range(people)],
            "first_name": _names(rng, 3_000, people),
            "last_name": _names(rng, 30_000, people),
            "birth_date": birth.date,
            "city": _names(rng, CITIES, people),
            "postcode": [f"{p:05d}" for p in rng.integers(1000, 99999, people)],
            "email": [f"user{i}@example.com" for i in range(people)],
            # Distinct numbers: drawn with replacement, a million people share about 5,000,
            # and the phone rule rightly merges each pair, which no real population has.
            "phone": [f"+49151{p:08d}" for p in rng.choice(10**8, people, replace=False)],
        }
    )
    dup = crm.sample(records - people, random_state=seed).copy()
    dup["customer_id"] = [f"D{i}" for i in range(len(dup))]
    change = rng.integers(0, 6, len(dup))
    dup.loc[change == 0, "first_name"] = _typo(rng, dup.loc[change == 0, "first_name"].to_numpy())
    dup.loc[change == 1, "last_name"] = _typo(rng, dup.loc[change == 1, "last_name"].to_numpy())
    swapped = change == 2
    dup.loc[swapped, ["first_name", "last_name"]] = dup.loc[
        swapped, ["last_name", "first_name"]
    ].to_numpy()
    dup.loc[change == 3, "birth_date"] = [
        d.replace(day=d.month, month=d.day) if d.day <= 12 else d.replace(day=d.day - 1)
        for d in dup.loc[change == 3, "birth_date"]
    ]
    dup.loc[change == 4, "city"] = None
    dup.loc[change == 5, "postcode"] = _typo(rng, dup.loc[change == 5, "postcode"].to_numpy())
    # Duplicates rarely keep the first record's address or number.
    dup["email"] = [f"other{i}@example.org" for i in range(len(dup))]
    dup["phone"] = None
    return pd.concat([crm, dup], ignore_index=True)


def _write_raw(conn: duckdb.DuckDBPyConnection, crm: pd.DataFrame, seed: int) -> pd.DataFrame:
    """CRM rows plus, per person, two orders, a browser that logs in and the email address
    the ESP mails; returns the truth (source_table, record_id, person_key)."""
    rng = np.random.default_rng(seed + 1)
    ensure_raw_schema(conn)
    loaded = pd.Timestamp("2026-06-30")
    conn.register("crm", crm.assign(signup_at=loaded, _loaded_at=loaded))
    conn.execute(
        "insert into raw.crm_customers by name select customer_id, email, first_name,"
        " last_name, phone, city, postcode, 'DE' as country, birth_date, signup_at,"
        " true as marketing_consent, _loaded_at, 'bench' as _source_file,"
        " row_number() over () as _source_line from crm"
    )
    originals = crm[crm.customer_id.str.startswith("C")]
    orders = originals.loc[originals.index.repeat(2)].reset_index(drop=True)
    orders["order_id"] = [f"O{i}" for i in range(len(orders))]
    guest = rng.random(len(orders)) < 0.3
    orders.loc[guest, "customer_id"] = None
    conn.register("orders", orders.assign(ordered_at=loaded, _loaded_at=loaded))
    conn.execute(
        "insert into raw.shop_orders by name select order_id, customer_id, email, ordered_at,"
        " 20.0 as total_amount, 'EUR' as currency, _loaded_at, 'bench' as _source_file,"
        " row_number() over () as _source_line from orders"
    )
    web = originals.assign(anonymous_id=[f"A{i}" for i in range(len(originals))])
    conn.register("web", web.assign(occurred_at=loaded, _loaded_at=loaded))
    conn.execute(
        "insert into raw.web_events by name select 'E' || anonymous_id as event_id,"
        " 'login' as event_type, anonymous_id, customer_id, occurred_at, _loaded_at,"
        " 'bench' as _source_file, row_number() over () as _source_line from web"
    )
    conn.execute(
        "insert into raw.esp_email_events by name select 'M' || customer_id as event_id,"
        " 'spring' as campaign_id, email, 'sent' as event_type, _loaded_at as occurred_at,"
        " _loaded_at, 'bench' as _source_file, row_number() over () as _source_line from crm"
    )
    person = dict(zip(crm.customer_id, crm.person_key, strict=True))
    truth = [
        pd.DataFrame(
            {
                "source_table": "crm_customers",
                "record_id": crm.customer_id,
                "person_key": crm.person_key,
            }
        ),
        pd.DataFrame(
            {
                "source_table": "shop_orders",
                "record_id": orders.order_id,
                "person_key": orders.person_key,
            }
        ),
        pd.DataFrame(
            {
                "source_table": "web_events",
                "record_id": web.anonymous_id,
                "person_key": web.person_key,
            }
        ),
        pd.DataFrame(
            {
                "source_table": "esp_email_events",
                "record_id": crm.email,
                "person_key": crm.customer_id.map(person),
            }
        ),
    ]
    return pd.concat(truth, ignore_index=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    root = settings.data_dir() / "bench" / f"identity_{args.records}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "truth").mkdir(parents=True)
    warehouse = root / "warehouse.duckdb"
    started = time.perf_counter()
    crm = synthetic_crm(args.records, args.seed)
    with duckdb.connect(str(warehouse)) as conn:
        truth = _write_raw(conn, crm, args.seed)
        rows = {
            t: conn.execute(f"select count(*) from raw.{t}").fetchone()[0]
            for t in ("crm_customers", "shop_orders", "web_events", "esp_email_events")
        }
    truth.to_csv(root / "truth" / "records.csv", index=False)
    prepared = time.perf_counter() - started
    print(f"Identity bench: {args.records:,} CRM records, seed {args.seed}, data in {root}")
    print("  raw rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    print(f"  synthetic data written in {prepared:.1f} s")

    dbt_vars = {**settings.dbt_vars(), "warehouse_path": str(warehouse)}
    target = root / "dbt_target"
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--select",
            "+identity_links",
            "--exclude-resource-type",
            "test",
            "unit_test",
            "--profiles-dir",
            ".",
            "--target-path",
            str(target),
            "--vars",
            json.dumps(dbt_vars),
        ],
        cwd=settings.dbt_project_dir(),
        env={**os.environ, **settings.TELEMETRY_OFF},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        print(done.stdout[-4000:], done.stderr[-2000:])
        return 1
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    timings = {
        r["unique_id"].rsplit(".", 1)[-1]: r["execution_time"]
        for r in json.loads((target / "run_results.json").read_text())["results"]
    }
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        scores = identity_scores(conn, root / "truth")
        pairs = conn.execute(
            "select count(*) from intermediate.int_crm_customers_matched"
        ).fetchone()[0]
    print(
        f"  identity resolution (dbt build +identity_links, no tests): {seconds:.1f} s wall, peak {peak_mb:,.0f} MB"
    )
    print(
        f"    probabilistic matching (int_crm_customers_matched): {timings.get('int_crm_customers_matched', 0):.1f} s, {pairs:,} pairs accepted"
    )
    print(
        f"    connected components and person ids (int_identities_resolved): {timings.get('int_identities_resolved', 0):.1f} s"
    )
    print(
        f"  pairwise precision {scores.precision:.4f}, recall {scores.recall:.4f} ({scores.true_pairs:,} true pairs)"
    )
    print("BENCH " + json.dumps({"stage": "identity", "records": args.records, "seconds": round(seconds, 1),
                                 "peak_child_rss_mb": round(peak_mb), "precision": scores.precision,
                                 "recall": scores.recall, "model_seconds": timings}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
