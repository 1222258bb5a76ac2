"""Deterministic demo data: four sources of landing files, and the truth behind them.

True persons are simulated first; the landing files are views of them through a CRM, a web
tracker, a shop and an email service, each with the dirt those systems really produce. What
the pipeline should find (the person behind every record, the generating parameters, every
row that was made dirty and how) goes to the ground-truth folder, which the pipeline never
reads; tests and evaluations do.

Structure a model can learn:
- repeat purchases follow BG/NBD (Poisson purchasing at rate lambda ~ Gamma(r, alpha) per day,
  dropout after each purchase with p ~ Beta(a, b)), spend per order follows Gamma-Gamma;
- email engagement rises with the purchase rate, so propensity rises with engagement,
  recency and frequency;
- a yearly season (peak in December) warps purchase and browsing times;
- each person has category affinities that drive views, carts and order lines;
- each person opens email around a preferred hour.
"""

from __future__ import annotations

import io
import json
import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from scipy import stats

from orchestration.demo import text

CATEGORIES = ("apparel", "shoes", "beauty", "home", "electronics", "outdoor", "kids", "accessories")
PRODUCTS_PER_CATEGORY = 25
FIRST_NAMES = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hugo",
    "Ida",
    "Jonas",
    "Klara",
    "Leon",
    "Mia",
    "Noah",
    "Olivia",
    "Paul",
    "Quinn",
    "Rosa",
    "Samuel",
    "Tara",
    "Uma",
    "Victor",
    "Wendy",
    "Xavier",
    "Yara",
    "Zoe",
    "Liam",
    "Sophie",
    "Lucas",
    "Chloe",
    "Mateo",
    "Isabel",
    "Finn",
    "Hannah",
    "Oscar",
    "Lena",
    "Elias",
    "Marie",
    "Theo",
    "Julia",
    "Max",
    "Lea",
    "Arthur",
    "Alice",
    "Louis",
    "Nora",
    "Henry",
    "Ella",
    "James",
    "Grace",
]
LAST_NAMES = [
    "Smith",
    "Miller",
    "Schmidt",
    "Dubois",
    "Jansen",
    "Garcia",
    "Brown",
    "Wilson",
    "Martin",
    "Bernard",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Visser",
    "Bakker",
    "Moreau",
    "Laurent",
    "Lopez",
    "Martinez",
    "Taylor",
    "Davies",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Clarke",
    "Hughes",
    "Edwards",
    "Green",
    "Hall",
    "Wood",
    "Harris",
    "Lewis",
    "Young",
    "King",
    "Lee",
    "Baker",
    "Hill",
    "Scott",
    "Adams",
    "Campbell",
    "Mitchell",
    "Turner",
    "Parker",
    "Collins",
]
COUNTRY_NAMES = {
    "DE": ("Germany", "Deutschland", "de"),
    "FR": ("France", "france"),
    "NL": ("Netherlands", "Holland"),
    "GB": ("United Kingdom", "UK", "Great Britain"),
    "US": ("USA", "United States", "U.S."),
}
COUNTRIES = {
    # code: (weight, currency, rate per EUR, calling code, cities, national trunk prefix)
    "DE": (0.30, "EUR", 1.0, "49", ("Berlin", "Hamburg", "Munich", "Cologne", "Leipzig"), "0"),
    "FR": (0.15, "EUR", 1.0, "33", ("Paris", "Lyon", "Marseille", "Lille", "Nantes"), "0"),
    "NL": (0.10, "EUR", 1.0, "31", ("Amsterdam", "Utrecht", "Rotterdam", "Eindhoven"), "0"),
    "GB": (0.20, "GBP", 0.86, "44", ("London", "Manchester", "Leeds", "Bristol", "Glasgow"), "0"),
    "US": (0.25, "USD", 1.08, "1", ("New York", "Chicago", "Austin", "Seattle", "Denver"), "1"),
}
EMAIL_DOMAINS = ("example.com", "mail.example.org", "post.example.net", "inbox.example.de")
PRODUCT_WORDS = {
    "apparel": ("Linen Shirt", "Wool Sweater", "Denim Jacket", "Cotton Tee", "Rain Coat"),
    "shoes": ("Trail Runner", "Leather Boot", "Canvas Sneaker", "Suede Loafer", "Sandal"),
    "beauty": ("Face Serum", "Night Cream", "Lip Balm", "Hair Oil", "Sun Fluid"),
    "home": ("Ceramic Mug", "Linen Throw", "Oak Board", "Glass Vase", "Scented Candle"),
    "electronics": ("Earbuds", "Desk Lamp", "Power Bank", "Speaker", "Smart Plug"),
    "outdoor": ("Day Pack", "Camping Mug", "Trek Poles", "Tent Light", "Water Bottle"),
    "kids": ("Wooden Train", "Story Book", "Plush Bear", "Puzzle", "Rain Boots"),
    "accessories": ("Leather Belt", "Wool Scarf", "Canvas Tote", "Sunglasses", "Watch Strap"),
}
CATEGORY_PRICE = {
    "apparel": 45.0,
    "shoes": 85.0,
    "beauty": 22.0,
    "home": 30.0,
    "electronics": 70.0,
    "outdoor": 40.0,
    "kids": 25.0,
    "accessories": 35.0,
}
SHOP_URL = "https://shop.example.com"
# In the order _uplift_types draws them: the last takes whatever probability is left.
UPLIFT_TYPES = ("sure_thing", "persuadable", "sleeping_dog", "lost_cause")
# Purposes of the shard's second streams (`_Shard.stream`).
UPLIFT_TYPE_STREAM, CAMPAIGN_WEEK_STREAM = 1, 2
CDN_URL = "https://cdn.shop.example.com"


@dataclass(frozen=True)
class DemoParams:
    """Everything that decides the demo data; written to ground_truth/params.json."""

    customers: int = 2_000
    seed: int = 42
    # People are simulated in shards of this many customers, each with its own random stream;
    # it bounds the generator's memory and, like the seed, decides the data.
    shard_customers: int = 5_000
    end: str = "2026-11-01T00:00:00"
    history_days: int = 730
    # BG/NBD: purchase rate lambda ~ Gamma(shape=r, rate=alpha) per day; dropout p ~ Beta(a, b).
    bgnbd_r: float = 0.6
    bgnbd_alpha: float = 45.0
    bgnbd_a: float = 0.9
    bgnbd_b: float = 3.5
    # Gamma-Gamma: spend per order ~ Gamma(shape=p, rate=nu), nu ~ Gamma(shape=q, rate=gamma), EUR.
    gg_p: float = 6.0
    gg_q: float = 3.5
    gg_gamma: float = 25.0
    seasonality_amplitude: float = 0.25
    seasonality_peak_day_of_year: int = 350
    crm_share: float = 0.85
    crm_buyer_share: float = 0.65
    visitor_share: float = 0.25
    consent_share: float = 0.7
    campaign_every_days: int = 14
    campaign_history_days: int = 364
    campaign_audience_share: float = 0.35
    # Each past campaign keeps a holdout that is not mailed, and splits the rest A/B; B's
    # subject draws more clicks, and a click leads to an order within days with this chance.
    # The lift over the holdout that campaign measurement must find comes from these orders.
    campaign_holdout_share: float = 0.1
    variant_b_click_lift: float = 1.3
    # Who the mail moves, each person's `uplift_type` in the ground truth. A sure thing buys
    # in the week after a campaign whether mailed or not; a persuadable buys in that week
    # only once the email reaches them; a sleeping dog buys in that week unless it does; a
    # lost cause buys either way only by their usual habit. The chances come from what a
    # model can see: with q the purchase-rate quantile, i the interest in email that
    # engagement adds to buying and e the engagement, a sure thing 0.6 q^1.5, a persuadable
    # 1.2 i² (1 - q), a sleeping dog 0.15 q (1 - e), else a lost cause.
    uplift_sure_thing_weight: float = 0.6
    uplift_persuadable_weight: float = 1.2
    uplift_sleeping_dog_weight: float = 0.15
    campaign_week_order_probability: float = 0.6  # a sure thing, or an unmailed sleeping dog
    persuadable_mailed_order_probability: float = 0.3
    sleeping_dog_mailed_order_probability: float = 0.15
    click_order_probability: dict = field(
        default_factory=lambda: {
            "persuadable": 0.6,
            "lost_cause": 0.02,
            "sure_thing": 0.0,
            "sleeping_dog": 0.0,
        }
    )
    dirt: dict = field(
        default_factory=lambda: {
            "crm_fuzzy_duplicate_person": 0.03,
            "crm_duplicate_id": 0.01,
            "crm_malformed_line": 0.002,
            "email_case_variant": 0.10,
            "email_whitespace": 0.05,
            "email_invalid": 0.01,
            "phone_missing": 0.08,
            "first_name_missing": 0.03,
            "birth_date_missing": 0.10,
            "city_missing": 0.03,
            "country_as_name": 0.05,
            "account_order_as_guest": 0.10,
            "order_duplicate_id": 0.005,
            "order_malformed_line": 0.001,
            "web_malformed_line": 0.002,
            "web_unknown_event_type": 0.005,
            "web_duplicate_id": 0.005,
            "web_late_arrival": 0.01,
            "esp_malformed_line": 0.001,
            "esp_unknown_event_type": 0.003,
            "esp_duplicate_id": 0.003,
        }
    )


@dataclass
class _Shard:
    """One shard of people: its own random stream, and the ids no other shard uses.

    Shard 0 draws from `default_rng(seed)` exactly as a single-shard run always has, so a
    demo that fits in one shard is the same data whatever the shard size."""

    index: int
    customers: int
    params: DemoParams

    @property
    def persons_before(self) -> int:
        full = self.params.shard_customers
        return self.index * (full + int(round(full * self.params.visitor_share)))

    def rng(self) -> np.random.Generator:
        if self.index == 0:
            return np.random.default_rng(self.params.seed)
        return np.random.default_rng(
            np.random.SeedSequence(self.params.seed, spawn_key=(self.index,))
        )

    def stream(self, purpose: int) -> np.random.Generator:
        """A second random stream of the shard: draws for one purpose that leave every
        other draw of the shard as it was."""
        return np.random.default_rng(
            np.random.SeedSequence(self.params.seed, spawn_key=(self.index, purpose))
        )

    def number(self, local: np.ndarray | int, per_shard: int):
        """A shard-wide number: local numbers of shard k start at k * per_shard."""
        return np.asarray(local) + self.index * per_shard

    @property
    def hex_prefix(self) -> int:
        """Added to random 48-bit ids, so that two shards can never draw the same one."""
        return self.index << 48


@dataclass
class _Out:
    """What one shard wrote: text to append to each landing file, and its ground truth.

    Line numbers in `dirty_rows` count from the first line this shard appends to the file;
    the writer adds the lines already there."""

    files: dict = field(default_factory=dict)  # relative path -> [header, bytes, lines]
    dirty_rows: list[pd.DataFrame] = field(default_factory=list)
    records: list[pd.DataFrame] = field(default_factory=list)
    persons_csv: bytes = b""
    persons_header: str = ""
    campaign_minutes: list[int] = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    def append(self, path: str, header: str | None, data: bytes, lines: int) -> None:
        self.files[path] = [header, data, lines]


def _shards(params: DemoParams) -> list[_Shard]:
    full, rest = divmod(params.customers, params.shard_customers)
    sizes = [params.shard_customers] * full + ([rest] if rest or not full else [])
    return [_Shard(k, n, params) for k, n in enumerate(sizes)]


def generate(
    landing_dir: Path, ground_truth_dir: Path, params: DemoParams, workers: int = 1
) -> dict:
    """Write landing files and ground truth for `params`; return a summary of what was written.

    People are simulated shard by shard (`params.shard_customers` customers each), so memory
    holds a shard per worker, never everyone. `workers` processes simulate shards in
    parallel; the files are the same bytes whatever their number."""
    shards = _shards(params)
    writer = _Writer(landing_dir, ground_truth_dir)
    first = _simulate(shards[0], None)
    writer.add(first)
    rest = [(shard, first.campaign_minutes) for shard in shards[1:]]
    if workers > 1 and len(rest) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(rest)), mp_context=context) as pool:
            for out in pool.map(_simulate_task, rest):
                writer.add(out)
    else:
        for task in rest:
            writer.add(_simulate_task(task))
    return writer.finish(params)


def _simulate_task(task: tuple) -> _Out:
    return _simulate(*task)


def _simulate(shard: _Shard, campaign_minutes: list[int] | None) -> _Out:
    """Simulate one shard of people and render what each source would export of them."""
    params = shard.params
    rng = shard.rng()
    end = pd.Timestamp(params.end)
    start = end - pd.Timedelta(days=params.history_days)
    out = _Out()

    products = _products(rng if shard.index == 0 else np.random.default_rng(params.seed))
    persons = _persons(rng, params, start, shard)
    orders, items = _purchases(rng, params, persons, products, start, shard)
    persons["n_orders"] = np.bincount(orders["person_idx"], minlength=len(persons))
    email_events = _email_events(rng, params, persons, products, end, shard, campaign_minutes, out)
    clicks = email_events[email_events["event_type"] == "click"]
    orders, items = _campaign_orders(
        rng, params, persons, products, orders, items, email_events, end, shard
    )
    persons["n_orders"] = np.bincount(orders["person_idx"], minlength=len(persons))
    web_events = _web_events(
        rng, params, persons, orders, items, products, start, end, clicks, shard
    )

    if shard.index == 0:
        _write_products(products, out)
    _write_crm(rng, params, persons, end, shard, out)
    _write_orders(rng, params, persons, orders, items, out)
    _write_web(rng, params, web_events, persons, out)
    _write_esp(rng, params, email_events, persons, out)

    truth = persons.drop(columns=["acquired_day", "first_purchase_day"])
    out.persons_header = ",".join(truth.columns)
    out.persons_csv = _csv_body(truth)
    return out


# --- simulation ---------------------------------------------------------------------------


def _products(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for c, category in enumerate(CATEGORIES):
        words = PRODUCT_WORDS[category]
        for i in range(PRODUCTS_PER_CATEGORY):
            product_id = f"SKU-{c + 1}{i + 1:03d}"
            name = (
                f"{('Classic', 'Everyday', 'Premium', 'Studio', 'Nordic')[i // 5]} {words[i % 5]}"
            )
            price = round(float(CATEGORY_PRICE[category] * rng.lognormal(0.0, 0.35)), 2)
            slug = name.lower().replace(" ", "-")
            rows.append(
                {
                    "product_id": product_id,
                    "product_name": name,
                    "category": category,
                    "category_index": c,
                    "rank_in_category": i,
                    "price": price,
                    "currency": "EUR",
                    "product_url": f"{SHOP_URL}/p/{slug}-{product_id.lower()}",
                    "image_url": f"{CDN_URL}/img/{product_id.lower()}.jpg",
                }
            )
    return pd.DataFrame(rows)


def _seasonal_clock(params: DemoParams, start: pd.Timestamp):
    """Map operational time (homogeneous) to calendar days with a yearly seasonal intensity."""
    grid = np.linspace(0.0, params.history_days + 400.0, 40_000)
    day_of_year = (start.day_of_year + grid) % 365.25
    intensity = 1.0 + params.seasonality_amplitude * np.cos(
        2 * np.pi * (day_of_year - params.seasonality_peak_day_of_year) / 365.25
    )
    operational = np.concatenate(
        [[0.0], np.cumsum((intensity[1:] + intensity[:-1]) / 2 * np.diff(grid))]
    )

    def to_calendar(u: np.ndarray) -> np.ndarray:
        return np.interp(u, operational, grid)

    def to_operational(c: np.ndarray) -> np.ndarray:
        return np.interp(c, grid, operational)

    return to_calendar, to_operational


def _persons(rng: np.random.Generator, params: DemoParams, start: pd.Timestamp, shard: _Shard):
    n = shard.customers
    n_visitors = int(round(n * params.visitor_share))
    total = n + n_visitors
    kind = np.where(rng.random(n) < params.crm_share, "crm", "guest")
    kind = np.concatenate([kind, np.full(n_visitors, "visitor")])

    lam = rng.gamma(shape=params.bgnbd_r, scale=1.0 / params.bgnbd_alpha, size=total)
    drop = rng.beta(params.bgnbd_a, params.bgnbd_b, size=total)
    nu = rng.gamma(shape=params.gg_q, scale=1.0 / params.gg_gamma, size=total)
    lam_quantile = stats.gamma.cdf(lam, a=params.bgnbd_r, scale=1.0 / params.bgnbd_alpha)
    # Engagement follows buying, and an interest in the shop's email of its own.
    interest = rng.beta(2.0, 2.5, size=total)
    engagement = np.clip(0.55 * lam_quantile + 0.45 * interest, 0.01, 0.99)

    codes = list(COUNTRIES)
    weights = np.array([COUNTRIES[c][0] for c in codes])
    country_idx = rng.choice(len(codes), size=total, p=weights / weights.sum())
    country = np.array(codes)[country_idx]
    city = np.array([COUNTRIES[c][4][rng.integers(len(COUNTRIES[c][4]))] for c in country])
    first = np.array(FIRST_NAMES)[rng.integers(len(FIRST_NAMES), size=total)]
    last = np.array(LAST_NAMES)[rng.integers(len(LAST_NAMES), size=total)]
    domain = np.array(EMAIL_DOMAINS)[rng.integers(len(EMAIL_DOMAINS), size=total)]
    idx = np.arange(total) + shard.persons_before
    email = np.char.add(
        np.char.add(np.char.add(np.char.lower(first), "."), np.char.lower(last)),
        np.char.add(idx.astype(str), np.char.add("@", domain)),
    )
    subscriber = rng.integers(10_000_000, 99_999_999, size=total).astype(str)
    national = np.where(
        country == "US",
        np.char.add("415", np.char.ljust(subscriber, 7).astype("U7")),
        np.char.add("15", subscriber),
    )
    calling = np.array([f"+{COUNTRIES[c][3]}" for c in country])
    phone = np.char.add(calling, national)

    acquired_day = rng.uniform(0, params.history_days - 1, size=total)
    is_buyer = (kind == "guest") | ((kind == "crm") & (rng.random(total) < params.crm_buyer_share))
    first_purchase_day = acquired_day + rng.exponential(5.0, size=total)
    is_buyer &= first_purchase_day < params.history_days
    is_buyer &= kind != "visitor"
    # A guest exists because of an order, so they are acquired at their first purchase.
    affinity = rng.dirichlet(np.full(len(CATEGORIES), 0.35), size=total)
    age_days = rng.uniform(18 * 365.25, 75 * 365.25, size=total)
    birth_date = (start + pd.Timedelta(days=params.history_days)) - pd.to_timedelta(
        age_days, unit="D"
    )

    persons = pd.DataFrame(
        {
            "person_key": [f"P{i + 1:07d}" for i in idx],
            "kind": kind,
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone_e164": phone,
            "country": country,
            "city": city,
            "birth_date": birth_date.normalize(),
            "acquired_day": acquired_day,
            "is_buyer": is_buyer,
            "first_purchase_day": np.where(is_buyer, first_purchase_day, np.nan),
            "purchase_rate_per_day": lam,
            "dropout_probability": drop,
            "spend_rate_nu": nu,
            "engagement": engagement,
            "preferred_hour": rng.choice(np.arange(24), size=total, p=_hour_weights()),
            "has_consent": rng.random(total) < (params.consent_share - 0.2 + 0.4 * engagement),
        }
    )
    persons["uplift_type"] = _uplift_types(
        shard.stream(UPLIFT_TYPE_STREAM), params, lam_quantile, interest, engagement
    )
    persons["favourite_category"] = np.array(CATEGORIES)[affinity.argmax(axis=1)]
    for c, category in enumerate(CATEGORIES):
        persons[f"affinity_{category}"] = affinity[:, c]
    return persons


def _uplift_types(rng, params: DemoParams, lam_quantile, interest, engagement) -> np.ndarray:
    """Each person's response to being mailed (see DemoParams), drawn from what they are."""
    sure = params.uplift_sure_thing_weight * lam_quantile**1.5
    dog = params.uplift_sleeping_dog_weight * lam_quantile * (1 - engagement)
    persuadable = np.minimum(
        params.uplift_persuadable_weight * interest**2 * (1 - lam_quantile), 1 - sure - dog
    )
    cumulative = np.cumsum([sure, persuadable, dog], axis=0)
    draw = rng.random(len(sure))
    picked = (draw[None, :] >= cumulative).sum(axis=0)
    return np.array(UPLIFT_TYPES)[picked]


def _affinity(persons: pd.DataFrame) -> np.ndarray:
    return persons[[f"affinity_{c}" for c in CATEGORIES]].to_numpy()


def _hour_weights() -> np.ndarray:
    hours = np.arange(24)
    w = 0.2 + np.exp(-((hours - 8) ** 2) / 6) + np.exp(-((hours - 20) ** 2) / 8) * 1.3
    return w / w.sum()


def _purchases(
    rng, params: DemoParams, persons: pd.DataFrame, products: pd.DataFrame, start, shard
):
    to_calendar, to_operational = _seasonal_clock(params, start)
    buyers = np.flatnonzero(persons["is_buyer"].to_numpy())
    lam = persons["purchase_rate_per_day"].to_numpy()[buyers]
    drop = persons["dropout_probability"].to_numpy()[buyers]
    nu = persons["spend_rate_nu"].to_numpy()[buyers]
    t_first = persons["first_purchase_day"].to_numpy()[buyers]

    who = [buyers]
    when = [t_first]
    u = to_operational(t_first)
    horizon_u = to_operational(np.array([params.history_days]))[0]
    alive = rng.random(len(buyers)) >= drop  # dropout may follow the first purchase too
    active = np.arange(len(buyers))[alive]
    while len(active):
        u[active] += rng.exponential(1.0 / lam[active])
        in_window = u[active] < horizon_u
        active = active[in_window]
        if not len(active):
            break
        who.append(buyers[active])
        when.append(to_calendar(u[active]))
        active = active[rng.random(len(active)) >= drop[active]]

    person_idx = np.concatenate(who)
    day = np.concatenate(when)
    order = np.argsort(day, kind="stable")
    person_idx, day = person_idx[order], day[order]
    spend_rate = nu[np.searchsorted(buyers, person_idx)]
    amount_eur = rng.gamma(shape=params.gg_p, scale=1.0 / spend_rate)
    # Shops take orders by day more than by night.
    hour = rng.choice(np.arange(24), size=len(day), p=_hour_weights())
    ordered_at = start + pd.to_timedelta(
        np.floor(day) + (hour + rng.random(len(day))) / 24, unit="D"
    )
    orders = pd.DataFrame(
        {
            "order_id": _order_ids(shard, np.arange(len(day))),
            "person_idx": person_idx,
            "ordered_at": ordered_at,
            "amount_eur": np.round(amount_eur, 2),
        }
    )

    return orders, _items(rng, persons, products, orders)


def _items(
    rng, persons: pd.DataFrame, products: pd.DataFrame, orders: pd.DataFrame
) -> pd.DataFrame:
    """Order lines whose prices add up to each order's total (orders: person_idx, amount_eur)."""
    person_idx = orders["person_idx"].to_numpy()
    n_items = 1 + rng.binomial(3, 0.25, size=len(orders))
    line_order = np.repeat(np.arange(len(orders)), n_items)
    line_number = _positions(n_items) + 1
    affinity = _affinity(persons)
    product_idx = _draw_products(rng, affinity[person_idx[line_order]], products)
    quantity = 1 + rng.binomial(2, 0.15, size=len(line_order))
    list_price = products["price"].to_numpy()[product_idx] * quantity
    list_total = np.bincount(line_order, weights=list_price, minlength=len(orders))
    # Order totals follow Gamma-Gamma; lines carry the order's prices after discounts and fees.
    factor = orders["amount_eur"].to_numpy() / list_total
    items = pd.DataFrame(
        {
            "order_idx": line_order,
            "line_number": line_number,
            "product_idx": product_idx,
            "quantity": quantity,
            "unit_price_eur": np.round(
                products["price"].to_numpy()[product_idx] * factor[line_order], 2
            ),
        }
    )
    return items


def _campaign_orders(rng, params, persons, products, orders, items, email_events, end, shard):
    """The orders each campaign causes or leaves alone, by the person's uplift type: some
    clicks lead to an order within days; sure things buy in the week after assignment,
    persuadables only when the email reached them, sleeping dogs rarely when it did."""
    kind = persons["uplift_type"].to_numpy()
    clicks = email_events[email_events["event_type"] == "click"]
    chance = pd.Series(params.click_order_probability)
    p_click = chance.reindex(kind[clicks["person_idx"].to_numpy()]).to_numpy()
    converts = clicks[rng.random(len(clicks)) < p_click]
    delay_h = rng.exponential(30, size=len(converts)) + 0.2
    who = [converts["person_idx"].to_numpy()]
    when = [converts["occurred_at"].to_numpy() + pd.to_timedelta(delay_h, unit="h")]

    week = shard.stream(CAMPAIGN_WEEK_STREAM)
    assigned = email_events[email_events["event_type"].isin(["sent", "holdout"])]
    delivered = email_events[email_events["event_type"] == "delivered"]
    reached = pd.MultiIndex.from_frame(assigned[["campaign_id", "person_idx"]]).isin(
        pd.MultiIndex.from_frame(delivered[["campaign_id", "person_idx"]])
    )
    assigned_kind = kind[assigned["person_idx"].to_numpy()]
    dog = np.where(
        reached,
        params.sleeping_dog_mailed_order_probability,
        params.campaign_week_order_probability,
    )
    p_week = np.select(
        [
            assigned_kind == "sure_thing",
            assigned_kind == "sleeping_dog",
            (assigned_kind == "persuadable") & reached,
        ],
        [params.campaign_week_order_probability, dog, params.persuadable_mailed_order_probability],
        0.0,
    )
    buys = week.random(len(assigned)) < p_week
    who.append(assigned["person_idx"].to_numpy()[buys])
    when.append(
        assigned["occurred_at"].to_numpy()[buys]
        + pd.to_timedelta(week.uniform(0.5, 7 * 24 - 1, size=int(buys.sum())), unit="h")
    )

    person_idx, ordered_at = np.concatenate(who), np.concatenate(when)
    keep = ordered_at < end.to_datetime64()
    person_idx, ordered_at = person_idx[keep], ordered_at[keep]
    if not len(person_idx):
        return orders, items
    nu = persons["spend_rate_nu"].to_numpy()[person_idx]
    extra = pd.DataFrame(
        {
            "order_id": _order_ids(shard, len(orders) + np.arange(len(person_idx))),
            "person_idx": person_idx,
            "ordered_at": pd.to_datetime(ordered_at).floor("s"),
            "amount_eur": np.round(rng.gamma(shape=params.gg_p, scale=1.0 / nu), 2),
        }
    )
    extra_items = _items(rng, persons, products, extra)
    extra_items["order_idx"] += len(orders)
    return (
        pd.concat([orders, extra], ignore_index=True),
        pd.concat([items, extra_items], ignore_index=True),
    )


def _order_ids(shard: _Shard, local: np.ndarray) -> list[str]:
    return [f"O{i + 1:08d}" for i in shard.number(local, 10**8)]


def _positions(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... counts[i] - 1 for each i, concatenated."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum())) - np.repeat(starts, counts)


def _draw_products(rng, affinity_rows: np.ndarray, products: pd.DataFrame) -> np.ndarray:
    """Category by the person's affinity, product by a Zipf-like popularity within it."""
    if len(affinity_rows) == 0:
        return np.array([], dtype=int)
    cum = affinity_rows.cumsum(axis=1)
    category = (rng.random(len(affinity_rows))[:, None] > cum).sum(axis=1)
    category = np.minimum(category, len(CATEGORIES) - 1)
    popularity = 1.0 / np.arange(1, PRODUCTS_PER_CATEGORY + 1) ** 1.1
    rank = rng.choice(PRODUCTS_PER_CATEGORY, size=len(category), p=popularity / popularity.sum())
    return category * PRODUCTS_PER_CATEGORY + rank


def _web_events(
    rng, params, persons, orders, items, products, start, end, clicks, shard
) -> pd.DataFrame:
    n = len(persons)
    kind = persons["kind"].to_numpy()
    devices = 1 + (rng.random(n) < 0.35)
    anon_ids = rng.integers(0, 2**48, size=2 * n) + shard.hex_prefix
    anon = np.array([f"anon-{x:012x}" for x in anon_ids]).reshape(n, 2)
    affinity = _affinity(persons)
    blocks = []

    def session_frame(person_idx, started_at, kinds, landing_url=f"{SHOP_URL}/"):
        m = len(person_idx)
        device = (rng.random(m) * devices[person_idx]).astype(int)
        return pd.DataFrame(
            {
                "session_id": [
                    f"s-{x:012x}" for x in rng.integers(0, 2**48, size=m) + shard.hex_prefix
                ],
                "person_idx": person_idx,
                "anonymous_id": anon[person_idx, device],
                "started_at": started_at,
                "session_kind": kinds,
                "landing_url": landing_url,
            }
        )

    # Sessions that end in an order: browse the ordered products, cart them, check out.
    order_person = orders["person_idx"].to_numpy()
    purchase_sessions = session_frame(
        order_person,
        orders["ordered_at"] - pd.to_timedelta(rng.uniform(5, 40, size=len(orders)), unit="m"),
        "purchase",
    )
    purchase_sessions["order_idx"] = np.arange(len(orders))
    is_guest_order = (kind[order_person] == "guest") | (
        rng.random(len(orders)) < params.dirt["account_order_as_guest"]
    )
    orders["is_guest_checkout"] = is_guest_order
    # Ordering with an account needs a login; a guest checkout fires an identify with the typed
    # email, unless the tracker is blocked (a consent banner declined, an ad blocker).
    tracked = rng.random(len(orders)) >= 0.05
    purchase_sessions["logs_in"] = ~is_guest_order & tracked
    purchase_sessions["identifies"] = is_guest_order & tracked

    # Browsing sessions, more for engaged people and spread over the season.
    to_calendar, to_operational = _seasonal_clock(params, start)
    engagement = persons["engagement"].to_numpy()
    acquired = persons["acquired_day"].to_numpy()
    span_years = (params.history_days - acquired) / 365.25
    expected = np.where(kind == "visitor", 1.5, 3.0 * (0.3 + engagement) * span_years + 0.5)
    n_sessions = rng.poisson(expected)
    browse_person = np.repeat(np.arange(n), n_sessions)
    lo = to_operational(acquired[browse_person])
    hi = to_operational(np.full(len(browse_person), params.history_days - 1e-3))
    browse_day = to_calendar(lo + rng.random(len(browse_person)) * (hi - lo))
    hour = rng.choice(np.arange(24), size=len(browse_person), p=_hour_weights())
    browse_started = start + pd.to_timedelta(
        np.floor(browse_day) + (hour + rng.random(len(hour))) / 24, unit="D"
    )
    browse = session_frame(browse_person, browse_started, "browse")
    browse["order_idx"] = -1
    browse["logs_in"] = (kind[browse_person] == "crm") & (rng.random(len(browse)) < 0.35)
    browse["identifies"] = (kind[browse_person] == "guest") & (rng.random(len(browse)) < 0.1)
    # A click in a marketing email lands with the recipient's token, and the tracker
    # identifies the browser with that address, as email service trackers do.
    from_email = session_frame(
        clicks["person_idx"].to_numpy(),
        clicks["occurred_at"].to_numpy() + pd.Timedelta(seconds=2),
        "email_click",
        clicks["link_url"].to_numpy(),
    )
    from_email["order_idx"] = -1
    from_email["logs_in"] = False
    from_email["identifies"] = True
    sessions = pd.concat([purchase_sessions, browse, from_email], ignore_index=True)

    def events(session_rows: np.ndarray, event_type: str, offset_s: np.ndarray, **cols):
        s = sessions.iloc[session_rows]
        frame = pd.DataFrame(
            {
                "session_row": session_rows,
                "event_type": event_type,
                "occurred_at": s["started_at"].to_numpy() + pd.to_timedelta(offset_s, unit="s"),
            }
        )
        for key, value in cols.items():
            frame[key] = value
        blocks.append(frame)

    all_rows = np.arange(len(sessions))
    events(
        all_rows, "page_view", np.zeros(len(sessions)), page_url=sessions["landing_url"].to_numpy()
    )
    login_rows = np.flatnonzero(sessions["logs_in"].to_numpy())
    events(login_rows, "login", rng.uniform(5, 30, size=len(login_rows)))

    # Purchase sessions: view and cart each ordered line, then check out.
    item_session = items["order_idx"].to_numpy()  # purchase sessions are rows 0..len(orders)-1
    line = items["line_number"].to_numpy()
    product_ids = products["product_id"].to_numpy()
    product_urls = products["product_url"].to_numpy()
    events(
        item_session,
        "product_view",
        60.0 * line + rng.uniform(0, 20, size=len(items)),
        product_id=product_ids[items["product_idx"]],
        page_url=product_urls[items["product_idx"]],
    )
    events(
        item_session,
        "add_to_cart",
        60.0 * line + 30 + rng.uniform(0, 20, size=len(items)),
        product_id=product_ids[items["product_idx"]],
        quantity=items["quantity"].to_numpy(),
    )
    checkout_offset = (
        sessions["started_at"].iloc[: len(orders)].to_numpy() - orders["ordered_at"].to_numpy()
    )
    checkout_offset = -checkout_offset / np.timedelta64(1, "s") - 60.0
    events(
        np.arange(len(orders)), "checkout_started", checkout_offset, page_url=f"{SHOP_URL}/checkout"
    )
    identify_rows = np.flatnonzero(sessions["identifies"].to_numpy())
    at_checkout = identify_rows < len(orders)
    identify_offset = np.full(len(identify_rows), 40.0)
    identify_offset[at_checkout] = checkout_offset[identify_rows[at_checkout]] + 20
    events(identify_rows, "identify", identify_offset)

    # Browsing sessions: a few product views by affinity, sometimes a search or a cart.
    browse_rows = np.flatnonzero(sessions["session_kind"].to_numpy() == "browse")
    views = 1 + rng.poisson(1.5, size=len(browse_rows))
    view_rows = np.repeat(browse_rows, views)
    view_seq = _positions(views)
    viewed = _draw_products(rng, affinity[sessions["person_idx"].to_numpy()[view_rows]], products)
    events(
        view_rows,
        "product_view",
        45.0 + 50.0 * view_seq + rng.uniform(0, 30, size=len(view_rows)),
        product_id=product_ids[viewed],
        page_url=product_urls[viewed],
    )
    search_rows = browse_rows[rng.random(len(browse_rows)) < 0.25]
    events(
        search_rows,
        "search",
        rng.uniform(35, 44, size=len(search_rows)),
        search_query=np.array(CATEGORIES)[
            affinity[sessions["person_idx"].to_numpy()[search_rows]].argmax(axis=1)
        ],
    )
    last_view = np.cumsum(views) - 1
    carts = rng.random(len(browse_rows)) < 0.12
    cart_rows = browse_rows[carts]
    cart_product = viewed[last_view[carts]]
    cart_offset = 45.0 + 50.0 * views[carts] + 10
    events(cart_rows, "add_to_cart", cart_offset, product_id=product_ids[cart_product], quantity=1)
    removes = rng.random(len(cart_rows)) < 0.3
    events(
        cart_rows[removes],
        "remove_from_cart",
        cart_offset[removes] + rng.uniform(20, 300, size=removes.sum()),
        product_id=product_ids[cart_product[removes]],
        quantity=1,
    )

    ev = pd.concat(blocks, ignore_index=True)
    ev = ev.merge(
        sessions[["session_id", "person_idx", "anonymous_id", "logs_in"]],
        left_on="session_row",
        right_index=True,
    )
    return ev[ev["occurred_at"] < end].reset_index(drop=True)


def _email_events(
    rng, params: DemoParams, persons: pd.DataFrame, products, end, shard, campaign_minutes, out
) -> pd.DataFrame:
    """Past campaigns to the shard's consenting people. The first shard draws each campaign's
    send minute and records it in `out`; the others send at the same minutes."""
    kind = persons["kind"].to_numpy()
    n = len(persons)
    consent = persons["has_consent"].to_numpy() & (kind == "crm")
    engagement = persons["engagement"].to_numpy()
    preferred = persons["preferred_hour"].to_numpy()
    acquired = persons["acquired_day"].to_numpy()
    affinity = _affinity(persons)
    unsubscribed = np.zeros(n, dtype=bool)
    hard_bounced = np.zeros(n, dtype=bool)
    start = end - pd.Timedelta(days=params.history_days)
    product_urls = products["product_url"].to_numpy()
    frames = []
    n_campaigns = params.campaign_history_days // params.campaign_every_days
    for c in range(n_campaigns):
        sent_at = end - pd.Timedelta(
            days=params.campaign_history_days - c * params.campaign_every_days
        )
        minute = int(rng.integers(0, 30)) if campaign_minutes is None else campaign_minutes[c]
        out.campaign_minutes.append(minute)
        sent_at = sent_at.normalize() + pd.Timedelta(hours=9, minutes=minute)
        day = (sent_at - start) / pd.Timedelta(days=1)
        eligible = np.flatnonzero(consent & (acquired < day) & ~unsubscribed & ~hard_bounced)
        audience = eligible[rng.random(len(eligible)) < params.campaign_audience_share]
        m = len(audience)
        campaign_id = f"newsletter-{sent_at:%Y-%m-%d}"
        holdout = rng.random(m) < params.campaign_holdout_share
        mailed = ~holdout
        variant = np.where(holdout, "holdout", np.where(rng.random(m) < 0.5, "a", "b"))
        seconds = rng.uniform(0, 600, size=m)
        sent = sent_at + pd.to_timedelta(seconds, unit="s")
        bounced = mailed & (rng.random(m) < 0.03)
        hard = bounced & (rng.random(m) < 0.35)
        delivered = mailed & ~bounced
        e = engagement[audience]
        click_lift = np.where(variant == "b", params.variant_b_click_lift, 1.0)
        opened = delivered & (rng.random(m) < 0.65 * e)
        clicked = opened & (rng.random(m) < (0.15 + 0.35 * e) * click_lift)
        unsub = delivered & (rng.random(m) < 0.006 * (1.3 - e))
        complaint = delivered & ~unsub & (rng.random(m) < 0.0006)
        delay_h = (preferred[audience] - sent_at.hour) % 24 + rng.normal(0, 0.6, size=m)
        delay_h = np.clip(delay_h, 0.05, None) + 24 * rng.binomial(2, 0.15, size=m)
        open_at = sent + pd.to_timedelta(delay_h, unit="h")
        click_at = open_at + pd.to_timedelta(rng.exponential(180, size=m) + 5, unit="s")
        clicked_product = _draw_products(rng, affinity[audience], products)
        link = (
            pd.Series(product_urls[clicked_product])
            + f"?utm_source=newsletter&utm_medium=email&utm_campaign={campaign_id}"
        ).to_numpy()

        def frame(
            mask,
            event_type,
            at,
            audience=audience,
            campaign_id=campaign_id,
            variant=variant,
            **cols,
        ):
            count = int(mask.sum())
            f = {
                "person_idx": audience[mask],
                "campaign_id": np.full(count, campaign_id, dtype=object),
                "variant": variant[mask].astype(object),
                "event_type": np.full(count, event_type, dtype=object),
                "occurred_at": np.asarray(at, dtype="datetime64[ns]")[mask],
                "bounce_type": np.full(count, None, dtype=object),
                "link_url": np.full(count, None, dtype=object),
            }
            for key, value in cols.items():
                f[key] = np.asarray(value, dtype=object)[mask]
            frames.append(f)

        frame(holdout, "holdout", sent)
        frame(mailed, "sent", sent)
        frame(delivered, "delivered", sent + pd.to_timedelta(rng.uniform(1, 60, size=m), unit="s"))
        frame(
            bounced,
            "bounce",
            sent + pd.to_timedelta(30, unit="s"),
            bounce_type=np.where(hard, "hard", "soft"),
        )
        frame(opened, "open", open_at)
        frame(clicked, "click", click_at, link_url=link)
        frame(unsub, "unsubscribe", open_at + pd.to_timedelta(60, unit="s"))
        frame(complaint, "complaint", open_at + pd.to_timedelta(90, unit="s"))
        unsubscribed[audience[unsub | complaint]] = True
        hard_bounced[audience[hard]] = True
    # Columns are joined as numpy arrays and kept as objects: a frame per event type and
    # campaign, each turned into Arrow strings, cost more than the simulation itself.
    ev = pd.DataFrame(
        {
            name: pd.Series(np.concatenate([f[name] for f in frames]), dtype=None)
            if name in ("person_idx", "occurred_at")
            else pd.Series(np.concatenate([f[name] for f in frames]), dtype=object)
            for name in frames[0]
        }
    )
    ev = (
        ev[ev["occurred_at"] < end].sort_values("occurred_at", kind="stable").reset_index(drop=True)
    )
    ids = text.numbered("esp-", shard.number(np.arange(len(ev)), 10**9) + 1, 9)
    ev["event_id"] = pd.Series(pd.arrays.ArrowStringArray(ids))
    return ev


# --- writing landing files ----------------------------------------------------------------


def _timestamps(rng, ts, offset_share: float = 0.2, naive_share: float = 0.1) -> pa.StringArray:
    """Render UTC timestamps the way real exports do: `Z`, a +01:00 offset, or naive UTC."""
    ts = np.asarray(pd.Series(pd.to_datetime(ts)).to_numpy(), dtype="datetime64[ns]")
    u = rng.random(len(ts))
    with_offset = u < offset_share
    naive = (u >= offset_share) & (u < offset_share + naive_share)
    shifted = ts + np.where(with_offset, np.timedelta64(1, "h"), np.timedelta64(0, "h"))
    style = np.where(with_offset, 1, np.where(naive, 2, 0))
    separator = np.where(naive, ord(" "), ord("T")).astype(np.uint8)
    return text.timestamps(shifted, separator, ("Z", "+01:00", ""), style)


def _email_variant(rng, emails: np.ndarray, dirt: dict) -> tuple[np.ndarray, np.ndarray]:
    """Case and whitespace variants of the same address, and a share of invalid ones."""
    out = emails.astype(object).copy()
    u = rng.random(len(out))
    case = u < dirt["email_case_variant"]
    out[case] = [e.split("@")[0].title() + "@" + e.split("@")[1].upper() for e in out[case]]
    space = (u >= dirt["email_case_variant"]) & (
        u < dirt["email_case_variant"] + dirt["email_whitespace"]
    )
    out[space] = [f"  {e} " for e in out[space]]
    invalid = rng.random(len(out)) < dirt["email_invalid"]
    out[invalid] = [
        e.replace("@", "") if i % 2 else e.split("@")[0] + "@" for i, e in enumerate(out[invalid])
    ]
    return out, invalid


def _phone_variant(rng, e164: np.ndarray, country: np.ndarray) -> np.ndarray:
    """E.164, spaced international, or national with a trunk prefix and punctuation."""
    out = e164.astype(object).copy()
    style = rng.integers(0, 3, size=len(out))
    for i in np.flatnonzero(style > 0):
        code = COUNTRIES[country[i]][3]
        national = out[i][1 + len(code) :]
        if style[i] == 1:
            out[i] = f"+{code} {national[:3]} {national[3:7]} {national[7:]}".strip()
        else:
            trunk = COUNTRIES[country[i]][5]
            prefix = "" if country[i] == "US" else trunk
            out[i] = f"({prefix}{national[:3]}) {national[3:6]}-{national[6:]}"
    return out


def _typo(rng, names: np.ndarray) -> np.ndarray:
    out = names.astype(object).copy()
    for i, name in enumerate(out):
        if len(name) < 4:
            continue
        j = int(rng.integers(1, len(name) - 1))
        out[i] = (
            name[:j] + name[j + 1] + name[j] + name[j + 2 :]
            if rng.random() < 0.5
            else name[:j] + name[j + 1 :]
        )
    return out


def _take(columns: dict, rows: np.ndarray) -> dict:
    """The rows at `rows` of a table kept as a dict of columns (Arrow or numpy)."""
    index = pa.array(rows, type=pa.int64())
    return {
        name: values.take(index) if isinstance(values, pa.Array) else np.asarray(values)[rows]
        for name, values in columns.items()
    }


def _duplicate_rows(rng, columns: dict, share: float) -> tuple[dict, np.ndarray, np.ndarray]:
    """Repeat a share of rows right after themselves, as exports that retry do.

    Returns the rows, the dirt of each (the second copy is a duplicate id), and which rows are
    part of a pair, so that other dirt is never laid over a pair and each dirty row has one
    reason."""
    n = len(next(iter(columns.values())))
    picks = rng.random(n) < share
    reps = np.where(picks, 2, 1)
    out = _take(columns, np.repeat(np.arange(n), reps))
    position = _positions(reps)
    dirty = np.where(position > 0, "duplicate id", None).astype(object)
    return out, dirty, np.repeat(picks, reps)


def _emit(
    out: _Out,
    table: str,
    folder: str,
    names: dict,
    keys: np.ndarray,
    header: str | None,
    lines: pa.StringArray,
    dirty: np.ndarray,
    replaced: tuple | None = None,
) -> None:
    """Append `lines` to the file `names[key]` of each row's key, and note the file and line
    of every dirty row for ground truth. `replaced` is (rows, lines) written in their place."""
    line = np.zeros(len(lines), dtype=np.int64)
    file_of = np.empty(len(lines), dtype=object)
    for key, data, rows in text.grouped_bytes(lines, keys, replaced):
        name = names[key]
        out.append(f"{folder}/{name}", header, data, len(rows))
        line[rows] = np.arange(1, len(rows) + 1)
        file_of[rows] = name
    flagged = np.flatnonzero(pd.notna(dirty))
    out.dirty_rows.append(
        pd.DataFrame(
            {
                "table": table,
                "file": file_of[flagged],
                "line": line[flagged],
                "reason": dirty[flagged],
            }
        )
    )
    out.counts[f"{table}_rows"] = out.counts.get(f"{table}_rows", 0) + len(lines)


def _write_csv_files(
    columns: dict,
    names: list[str],
    folder: str,
    prefix: str,
    months: np.ndarray | None,
    table: str,
    dirty: np.ndarray,
    malformed: np.ndarray,
    out: _Out,
) -> None:
    """Write rows to `prefix` files, one per month of `months` (or one `prefix` file),
    corrupting `malformed` rows by cutting their last fields."""
    fields = [text.as_text(columns[c]) for c in names]
    lines = text.csv_lines(fields)
    cut = np.flatnonzero(malformed)
    index = pa.array(cut, type=pa.int64())
    short = text.csv_lines([f.take(index) for f in fields[: max(1, len(names) - 3)]])
    dirty = dirty.copy()
    dirty[malformed] = "malformed line"
    if months is None:
        keys, files = np.zeros(len(lines), dtype=np.int64), {0: prefix}
    else:
        keys = months
        files = {m: f"{prefix}_{text.month_name(m)}.csv" for m in np.unique(months)}
    _emit(out, table, folder, files, keys, ",".join(names), lines, dirty, (cut, short))


def _records(table: str, record_id, person_key) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_table": table,
            "record_id": np.asarray(record_id, dtype=object),
            "person_key": np.asarray(person_key, dtype=object),
        }
    )


def _write_products(products: pd.DataFrame, out: _Out) -> None:
    cols = [
        "product_id",
        "product_name",
        "category",
        "price",
        "currency",
        "product_url",
        "image_url",
    ]
    body = products[cols].to_csv(index=False, header=False, lineterminator="\n")
    out.append("shop/products.csv", ",".join(cols), body.encode(), len(products))
    out.counts["shop_products_rows"] = len(products)


def _write_crm(rng, params, persons, end, shard: _Shard, out: _Out) -> None:
    dirt = params.dirt
    crm = persons[persons["kind"] == "crm"].copy()
    crm["person_row"] = crm.index
    ids = shard.number(rng.permutation(len(crm)) + 1_000_001, 10**8)
    crm["customer_id"] = [f"C{x}" for x in ids]
    persons["customer_id"] = None
    persons.loc[crm.index, "customer_id"] = crm["customer_id"].to_numpy()

    fuzzy = crm[rng.random(len(crm)) < dirt["crm_fuzzy_duplicate_person"]].copy()
    fuzzy_ids = shard.number(rng.permutation(len(fuzzy)) + 5_000_001, 10**8)
    fuzzy["customer_id"] = [f"C{x}" for x in fuzzy_ids]
    fuzzy["acquired_day"] = np.minimum(
        fuzzy["acquired_day"] + rng.uniform(30, 300, len(fuzzy)), params.history_days - 1
    )
    field = rng.random(len(fuzzy)) < 0.5
    fuzzy.loc[field, "first_name"] = _typo(rng, fuzzy.loc[field, "first_name"].to_numpy())
    fuzzy.loc[~field, "last_name"] = _typo(rng, fuzzy.loc[~field, "last_name"].to_numpy())
    fuzzy["is_fuzzy_duplicate"] = True
    crm["is_fuzzy_duplicate"] = False
    rows = pd.concat([crm, fuzzy]).sort_values("acquired_day", kind="stable").reset_index(drop=True)

    start = end - pd.Timedelta(days=params.history_days)
    signup = start + pd.to_timedelta(rows["acquired_day"], unit="D")
    emails, invalid = _email_variant(rng, rows["email"].to_numpy(), dirt)
    phones = _phone_variant(rng, rows["phone_e164"].to_numpy(), rows["country"].to_numpy())
    phones[rng.random(len(rows)) < dirt["phone_missing"]] = ""
    first = rows["first_name"].to_numpy().astype(object)
    first[rng.random(len(rows)) < dirt["first_name_missing"]] = ""
    birth = np.asarray(text.dates(rows["birth_date"].to_numpy()).to_pylist(), dtype=object)
    birth[rng.random(len(rows)) < dirt["birth_date_missing"]] = ""
    city = rows["city"].to_numpy().astype(object)
    city[rng.random(len(rows)) < dirt["city_missing"]] = ""
    consent = rows["has_consent"].to_numpy()
    consent_text = np.where(consent, "true", "false").astype(object)
    alt = rng.random(len(rows)) < 0.1
    consent_text[alt] = np.where(consent[alt], "yes", "no")
    n_orders = rows["n_orders"].to_numpy()
    tier = np.select(
        [n_orders >= 10, n_orders >= 5, n_orders >= 2], ["platinum", "gold", "silver"], "bronze"
    )
    consent_at = signup + pd.to_timedelta(rng.uniform(0, 3600, len(rows)), unit="s")

    country = rows["country"].to_numpy().astype(object)
    as_name = np.flatnonzero(rng.random(len(rows)) < dirt["country_as_name"])
    country[as_name] = [
        COUNTRY_NAMES[c][rng.integers(len(COUNTRY_NAMES[c]))] for c in country[as_name]
    ]
    export = {
        "customer_id": rows["customer_id"].to_numpy(dtype=object),
        "email": emails,
        "first_name": first,
        "last_name": rows["last_name"].to_numpy(dtype=object),
        "phone": phones,
        "city": city,
        "country": country,
        "birth_date": birth,
        "signup_at": _timestamps(rng, signup),
        "loyalty_tier": tier.astype(object),
        "marketing_consent": consent_text,
        "consent_updated_at": _timestamps(rng, consent_at),
        "person_key": persons.loc[rows["person_row"], "person_key"].to_numpy(dtype=object),
    }
    export, dirty, paired = _duplicate_rows(rng, export, dirt["crm_duplicate_id"])
    malformed = (rng.random(len(dirty)) < dirt["crm_malformed_line"]) & ~paired
    cols = [c for c in export if c != "person_key"]
    name = f"customers_{end:%Y-%m-%d}.csv"
    _write_csv_files(export, cols, "crm", name, None, "crm_customers", dirty, malformed, out)
    out.records.append(_records("crm_customers", export["customer_id"], export["person_key"]))
    out.counts["crm_invalid_emails"] = int(invalid.sum())
    out.counts["crm_fuzzy_duplicates"] = len(fuzzy)


def _write_orders(rng, params, persons, orders, items, out: _Out) -> None:
    dirt = params.dirt
    p = orders["person_idx"].to_numpy()
    country = persons["country"].to_numpy()[p]
    currency = np.array([COUNTRIES[c][1] for c in country])
    rate = np.array([COUNTRIES[c][2] for c in country])
    is_guest = orders["is_guest_checkout"].to_numpy()
    customer_id = persons["customer_id"].to_numpy()[p].astype(object)
    customer_id[is_guest | pd.isna(customer_id)] = ""
    emails, _ = _email_variant(rng, persons["email"].to_numpy()[p], {**dirt, "email_invalid": 0.0})
    shipping = country.astype(object).copy()
    shipping[rng.random(len(shipping)) < 0.03] = ""
    ordered_at = orders["ordered_at"].to_numpy()
    person_key = persons["person_key"].to_numpy()[p]
    export = {
        "order_id": orders["order_id"].to_numpy(dtype=object),
        "customer_id": customer_id,
        "email": emails,
        "ordered_at": _timestamps(rng, ordered_at),
        "total_amount": np.round(orders["amount_eur"].to_numpy() * rate, 2),
        "currency": currency.astype(object),
        "shipping_country": shipping,
        "month": text.month_codes(ordered_at),
    }
    export, dirty, paired = _duplicate_rows(rng, export, dirt["order_duplicate_id"])
    malformed = (rng.random(len(dirty)) < dirt["order_malformed_line"]) & ~paired
    cols = [
        "order_id",
        "customer_id",
        "email",
        "ordered_at",
        "total_amount",
        "currency",
        "shipping_country",
    ]
    _write_csv_files(
        export, cols, "shop", "orders", export["month"], "shop_orders", dirty, malformed, out
    )
    out.records.append(_records("shop_orders", orders["order_id"], person_key))

    oi = items["order_idx"].to_numpy()
    product_ids = np.array(
        [
            f"SKU-{c // PRODUCTS_PER_CATEGORY + 1}{c % PRODUCTS_PER_CATEGORY + 1:03d}"
            for c in range(len(CATEGORIES) * PRODUCTS_PER_CATEGORY)
        ],
        dtype=object,
    )
    lines = {
        "order_id": orders["order_id"].to_numpy(dtype=object)[oi],
        "line_number": items["line_number"].to_numpy(),
        "product_id": product_ids[items["product_idx"].to_numpy()],
        "quantity": items["quantity"].to_numpy(),
        "unit_price": np.round(items["unit_price_eur"].to_numpy() * rate[oi], 2),
    }
    _write_csv_files(
        lines,
        list(lines),
        "shop",
        "order_items",
        text.month_codes(ordered_at)[oi],
        "shop_order_items",
        np.full(len(oi), None, dtype=object),
        np.zeros(len(oi), dtype=bool),
        out,
    )


def _write_web(rng, params, ev: pd.DataFrame, persons, out: _Out) -> None:
    dirt = params.dirt
    ev = ev.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    p = ev["person_idx"].to_numpy()
    n = len(ev)
    # After a login every event of the session carries the account; the page view before it doesn't.
    logged_in = ev["logs_in"].to_numpy() & (ev["event_type"].to_numpy() != "page_view")
    account = pa.array(persons["customer_id"].to_numpy(dtype=object), type=pa.string())
    account = account.take(pa.array(p, type=pa.int64()))
    customer_id = pc.if_else(pa.array(logged_in), account, pa.nulls(n, pa.string()))
    identify = (ev["event_type"] == "identify").to_numpy()
    typed, _ = _email_variant(
        rng, persons["email"].to_numpy()[p[identify]], {**dirt, "email_invalid": 0.0}
    )
    email = text.replace_rows(pa.nulls(n, pa.string()), np.flatnonzero(identify), list(typed))
    event_id = text.hex_ids("ev-", rng.integers(0, 2**62, size=n), 16)
    late = rng.random(n) < dirt["web_late_arrival"]
    delay = np.where(late, rng.uniform(1, 5, n) * 86_400, rng.uniform(0.1, 5, n))
    occurred = ev["occurred_at"].to_numpy(dtype="datetime64[ns]")
    received = occurred + pd.to_timedelta(delay, unit="s").to_numpy()
    cols = [
        "event_id",
        "event_type",
        "anonymous_id",
        "customer_id",
        "email",
        "session_id",
        "occurred_at",
        "received_at",
        "page_url",
        "product_id",
        "search_query",
        "quantity",
    ]
    export = {
        "event_id": event_id,
        "event_type": text.as_text(ev["event_type"]),
        "anonymous_id": text.as_text(ev["anonymous_id"]),
        "customer_id": customer_id,
        "email": email,
        "session_id": text.as_text(ev["session_id"]),
        "occurred_at": _timestamps(rng, occurred, offset_share=0.3, naive_share=0.0),
        "received_at": text.timestamps(received, suffix=(".%fZ",)),
        "page_url": text.as_text(ev["page_url"]),
        "product_id": text.as_text(ev["product_id"]),
        "search_query": text.as_text(ev["search_query"]),
        "quantity": pa.array(ev["quantity"].astype("Int64"), type=pa.int64()),
        "month": text.month_codes(received),
    }
    export, dirty, paired = _duplicate_rows(rng, export, dirt["web_duplicate_id"])
    u = rng.random(len(dirty))
    unknown = (u < dirt["web_unknown_event_type"]) & ~paired
    export["event_type"] = text.replace_rows(
        export["event_type"],
        np.flatnonzero(unknown),
        list(np.where(rng.random(unknown.sum()) < 0.5, "video_play", "scroll_depth")),
    )
    dirty[unknown] = "unknown event_type"
    malformed = (u > 1 - dirt["web_malformed_line"]) & ~paired
    dirty[malformed] = "malformed line"
    lines = text.json_lines({c: export[c] for c in cols}, numbers=frozenset({"quantity"}))
    cut = np.flatnonzero(malformed)
    # Half of the line (without its newline) is what a crashed writer leaves.
    cut_lines = lines.take(pa.array(cut, type=pa.int64())).to_pylist()
    halves = [line[: (len(line) - 1) // 2] + "\n" for line in cut_lines]
    files = {m: f"events_{text.month_name(m)}.jsonl" for m in np.unique(export["month"])}
    _emit(out, "web_events", "web", files, export["month"], None, lines, dirty, (cut, halves))
    anon = ev[["anonymous_id", "person_idx"]].drop_duplicates("anonymous_id")
    person_key = persons["person_key"].to_numpy()[anon["person_idx"].to_numpy()]
    out.records.append(_records("web_events", anon["anonymous_id"], person_key))


def _write_esp(rng, params, ev: pd.DataFrame, persons, out: _Out) -> None:
    dirt = params.dirt
    email = persons["email"].to_numpy()[ev["person_idx"].to_numpy()]
    occurred = ev["occurred_at"].to_numpy(dtype="datetime64[ns]")
    export = {
        "event_id": text.as_text(ev["event_id"]),
        "campaign_id": text.as_text(ev["campaign_id"]),
        "email": text.as_text(email),
        "event_type": text.as_text(ev["event_type"]),
        "variant": text.as_text(ev["variant"]),
        "occurred_at": _timestamps(rng, occurred, offset_share=0.0, naive_share=0.5),
        "bounce_type": text.as_text(ev["bounce_type"]) if "bounce_type" in ev else None,
        "link_url": text.as_text(ev["link_url"]) if "link_url" in ev else None,
        "month": text.month_codes(occurred),
    }
    for name in ("bounce_type", "link_url"):
        if export[name] is None:
            export[name] = pa.nulls(len(ev), pa.string())
    export, dirty, paired = _duplicate_rows(rng, export, dirt["esp_duplicate_id"])
    u = rng.random(len(dirty))
    unknown = (u < dirt["esp_unknown_event_type"]) & ~paired
    export["event_type"] = text.replace_rows(
        export["event_type"], np.flatnonzero(unknown), ["deferred"] * int(unknown.sum())
    )
    dirty[unknown] = "unknown event_type"
    malformed = (u > 1 - dirt["esp_malformed_line"]) & ~paired
    cols = [
        "event_id",
        "campaign_id",
        "email",
        "event_type",
        "variant",
        "occurred_at",
        "bounce_type",
        "link_url",
    ]
    _write_csv_files(
        export,
        cols,
        "esp",
        "email_events",
        export["month"],
        "esp_email_events",
        dirty,
        malformed,
        out,
    )
    recipients = pd.DataFrame(
        {
            "email": email,
            "person_key": persons["person_key"].to_numpy()[ev["person_idx"].to_numpy()],
        }
    ).drop_duplicates("email")
    out.records.append(_records("esp_email_events", recipients["email"], recipients["person_key"]))


def _csv_body(frame: pd.DataFrame) -> bytes:
    """A ground-truth table as CSV rows without a header, written by Arrow: ten times faster
    than pandas on the float columns. Timestamps are days there, so they are written as dates."""
    frame = frame.copy()
    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name]):
            frame[name] = frame[name].dt.date
    sink = io.BytesIO()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # Arrow 25's CSV writer emits stray bytes for a large_string column whose chunks
    # include an empty one (a pandas concat of per-file frames), so write plain strings in
    # one chunk.
    schema = pa.schema(
        [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema]
    )
    table = table.cast(schema).combine_chunks()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False))
    return sink.getvalue()


class _Writer:
    """Appends each shard's text to the landing and ground-truth files, in shard order, and
    keeps the line count of every file so that dirty rows name their line in the file."""

    def __init__(self, landing_dir: Path, ground_truth_dir: Path):
        self.landing_dir = landing_dir
        self.truth_dir = ground_truth_dir
        for source in ("crm", "web", "shop", "esp"):
            (landing_dir / source).mkdir(parents=True, exist_ok=True)
        ground_truth_dir.mkdir(parents=True, exist_ok=True)
        self.handles: dict = {}
        self.lines: Counter = Counter()
        self.counts: Counter = Counter()
        self.dirty: Counter = Counter()

    def _append(self, path: Path, header: str | None, data: bytes, lines: int) -> int:
        """Append to `path` (created, with `header`, the first time); return the lines before."""
        handle = self.handles.get(path)
        if handle is None:
            handle = self.handles[path] = path.open("wb")
            if header is not None:
                handle.write(header.encode() + b"\n")
                self.lines[path] = 1
        before = self.lines[path]
        handle.write(data)
        self.lines[path] += lines
        return before

    def add(self, out: _Out) -> None:
        before = {}
        for relative, (header, data, lines) in out.files.items():
            before[relative.split("/")[-1]] = self._append(
                self.landing_dir / relative, header, data, lines
            )
        dirty = pd.concat(out.dirty_rows, ignore_index=True)
        dirty["line"] = dirty["line"] + dirty["file"].map(before).fillna(0).astype(np.int64)
        self._table("dirty_rows.csv", dirty)
        self._table("records.csv", pd.concat(out.records, ignore_index=True))
        body = out.persons_csv
        self._append(self.truth_dir / "persons.csv", out.persons_header, body, body.count(b"\n"))
        self.counts.update(out.counts)
        self.dirty.update(dirty.groupby(["table", "reason"]).size().to_dict())

    def _table(self, name: str, frame: pd.DataFrame) -> None:
        self._append(self.truth_dir / name, ",".join(frame.columns), _csv_body(frame), len(frame))

    def finish(self, params: DemoParams) -> dict:
        for handle in self.handles.values():
            handle.close()
        summary = {
            "params": asdict(params),
            "generated_at_seed": params.seed,
            "counts": dict(self.counts),
            "dirty_rows_by_table_and_reason": {
                f"{t}/{r}": int(n) for (t, r), n in sorted(self.dirty.items())
            },
        }
        (self.truth_dir / "params.json").write_text(json.dumps(summary, indent=2, default=str))
        return summary["counts"]
