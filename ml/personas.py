"""Personas: k-means over recency, frequency, monetary value and engagement, named by their
centroids. A discovery aid for marketers, not a model anything depends on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from ml.errors import CannotTrain

# Log-scaled where the spread is heavy-tailed, so one big spender does not own a cluster.
PERSONA_FEATURES = {
    "recency": ("days_since_last_order", False),
    "frequency": ("order_count", True),
    "monetary": ("revenue_eur", True),
    "email_engagement": ("open_rate_90d", False),
    "browsing": ("sessions_30d", True),
}
# Words for a centroid far above (+) or below (-) the average on a dimension, in z-scores.
WORDS = {
    "recency": ("lapsed", "recent"),
    "frequency": ("frequent", "one-off"),
    "monetary": ("big-spending", "low-spending"),
    "email_engagement": ("email-engaged", "email-silent"),
    "browsing": ("browsing", None),
}
THRESHOLD = 0.3
SILHOUETTE_SAMPLE = 10_000
FIT_SAMPLE = 200_000


@dataclass
class Personas:
    assignments: pd.Series
    names: dict[int, str]
    centroids: pd.DataFrame
    silhouette: float
    k: int
    silhouettes: dict[int, float]


def persona_matrix(features: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=features.index)
    for name, (column, log) in PERSONA_FEATURES.items():
        values = features[column].astype(float)
        if column.startswith("days_since"):
            values = values.clip(upper=730)
        # Net revenue is below zero for someone whose refunds outweigh their purchases.
        out[name] = np.log1p(values.clip(lower=0)) if log else values
    return out


def describe_centroid(z: pd.Series) -> list[str]:
    """Words for the centroid's dimensions, most distinctive first."""
    scored = []
    for dimension, (high, low) in WORDS.items():
        word = high if z[dimension] > 0 else low
        if word and abs(z[dimension]) >= THRESHOLD:
            scored.append((abs(z[dimension]), word))
    return [word for _, word in sorted(scored, reverse=True)]


def name_centroids(centroids_z: pd.DataFrame, buyers_share: pd.Series) -> dict[int, str]:
    """Two words per cluster, a third where two clusters would share a name. Clusters of
    mostly people who never ordered are prospects, described by engagement alone."""
    words = {}
    for c, z in centroids_z.iterrows():
        described = describe_centroid(z)
        if buyers_share[c] < 0.5:
            described = [
                w for w in described if w in ("email-engaged", "email-silent", "browsing")
            ] + ["prospects"]
        words[int(c)] = described
    names = {c: " ".join(w[:2]) for c, w in words.items()}
    clashes = pd.Series(names).duplicated(keep=False)
    for c in clashes[clashes].index:
        names[c] = " ".join(words[c][:3])
    seen: dict[str, int] = {}
    for c in sorted(names):
        base = names[c] or "average"
        seen[base] = seen.get(base, 0) + 1
        noun = "" if base.endswith("prospects") else " customers"
        names[c] = f"{base}{noun}" + (f" {seen[base]}" if seen[base] > 1 else "")
    return names


def fit(features: pd.DataFrame, ks: tuple[int, ...] = (4, 5, 6), random_state: int = 0) -> Personas:
    """Choose k by silhouette on a sample, cluster everyone, and name each cluster."""
    matrix = persona_matrix(features)
    scaler = StandardScaler().fit(matrix)
    scaled = scaler.transform(matrix)
    rng = np.random.default_rng(random_state)
    fit_rows = scaled
    if len(scaled) > FIT_SAMPLE:
        fit_rows = scaled[rng.choice(len(scaled), FIT_SAMPLE, replace=False)]
    sample = fit_rows[
        rng.choice(len(fit_rows), min(SILHOUETTE_SAMPLE, len(fit_rows)), replace=False)
    ]
    models, silhouettes = {}, {}
    distinct = len(np.unique(np.round(fit_rows, 9), axis=0)) if len(fit_rows) else 0
    for k in ks:
        if k >= len(sample) or k > distinct:
            continue
        model = KMeans(n_clusters=k, n_init=3, random_state=random_state).fit(fit_rows)
        labels = model.predict(sample)
        if len(np.unique(labels)) < 2:
            continue
        models[k] = model
        silhouettes[k] = float(silhouette_score(sample, labels))
    if not models:
        raise CannotTrain(
            f"cannot find personas among {len(features)} people: they have only {distinct}"
            f" distinct profiles, and personas need more than {min(ks)}"
        )
    best = max(silhouettes, key=silhouettes.get)
    labels = models[best].predict(scaled)
    centroids_z = pd.DataFrame(models[best].cluster_centers_, columns=matrix.columns)
    buyers_share = pd.Series(features["has_ordered"].to_numpy() > 0).groupby(labels).mean()
    names = name_centroids(centroids_z, buyers_share.reindex(centroids_z.index, fill_value=0))
    centroids = matrix.groupby(labels).mean()
    centroids.index = [names[int(c)] for c in centroids.index]
    centroids["people"] = pd.Series(labels).value_counts().sort_index().to_numpy()
    return Personas(
        assignments=pd.Series(labels, index=features.index, name="persona_id"),
        names=names,
        centroids=centroids,
        silhouette=silhouettes[best],
        k=best,
        silhouettes=silhouettes,
    )
