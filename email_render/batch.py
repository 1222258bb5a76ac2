"""Render a batch of recipients and write its messages: the work an export's worker
processes do. Kept free of the warehouse and the orchestrator, so a worker starts by
importing only the renderer (a tenth of a second) and rendering runs on every core."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from email_render.campaign import Campaign
from email_render.export import Rendered, render_send, write_batch
from email_render.render import Renderer


def unsubscribe_url(base_url: str, campaign_id: str, person_id: str) -> str:
    token = hashlib.sha256(f"{campaign_id}:{person_id}".encode()).hexdigest()[:24]
    return f"{base_url}?p={person_id}&c={campaign_id}&t={token}"


@dataclass(frozen=True)
class RecipientExtras:
    """What every message adds to the customer view: the footer's postal address and a
    per-person unsubscribe link. A plain object, so export workers can take it along."""

    campaign_id: str
    postal_address: str
    unsubscribe_base_url: str

    def __call__(self, recipient: dict) -> dict:
        return {
            "postal_address": self.postal_address,
            "unsubscribe_url": unsubscribe_url(
                self.unsubscribe_base_url, self.campaign_id, recipient["person_id"]
            ),
        }


def recipients(rows: list[dict], recipient_extra: Callable[[dict], dict]) -> list[dict]:
    """Rows of the send plan joined to the audience, ready to render."""
    for recipient in rows:
        recipient.pop("_batch_no", None)
        recipient["products"] = recipient.get("products") or []
        recipient["cart_items"] = recipient.get("cart_items") or []
        recipient["browsed_items"] = recipient.get("browsed_items") or []
        recipient.update(recipient_extra(recipient))
    return rows


def picklable(value) -> bool:
    try:
        pickle.dumps(value)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


@dataclass
class RenderedBatch:
    """A batch whose messages and upload lines are on disk, and its ledger rows."""

    batch_no: int
    ledger: list[tuple[str, str, str]]


def render_and_write(
    renderer: Renderer,
    rows: list[dict],
    batch_no: int,
    out_dir: Path,
    day: str,
    sender: str,
    domain: str,
) -> RenderedBatch:
    """Render a batch and write its files: the message archive and the upload part files,
    which the exporter appends to the upload in batch order."""
    sends = [Rendered(*render_send(renderer, r, r["variant"], day, sender, domain)) for r in rows]
    write_batch(out_dir, batch_no, sends)
    return RenderedBatch(
        batch_no,
        [(s.record["person_id"], s.record["variant"], s.record["message_id"]) for s in sends],
    )


_worker_renderer: Renderer | None = None
_worker_extra: Callable[[dict], dict] | None = None


def init_worker(campaign: Campaign, recipient_extra: Callable[[dict], dict] | None) -> None:
    """Runs once in each worker process: compile the campaign's templates there."""
    global _worker_renderer, _worker_extra
    _worker_renderer = Renderer(campaign)
    _worker_extra = recipient_extra


def render_batch_in_worker(job: tuple) -> RenderedBatch:
    """job: (rows, batch_no, out_dir, day, sender, domain). Rows may be an Arrow table, which
    is turned into recipients here rather than in the exporting process, so that the
    conversion to Python objects also runs on every core."""
    rows, *rest = job
    if hasattr(rows, "to_pylist"):
        rows = recipients(rows.to_pylist(), _worker_extra)
    return render_and_write(_worker_renderer, rows, *rest)
