"""Where exports live: the one module that knows the folder layout.

<exports>/<campaign_id>/<send date>/
    sends.jsonl, sends.csv         the ESP upload, appended batch by batch
    eml/batch-NNNNNN.zip           one stored zip of <person_id>.eml messages per batch
    parts/batch-NNNNNN.{jsonl,csv} a batch's upload lines until they are appended
    previews/index.html            previews, with samples.json naming who each shows
<exports>/reports/campaign_report.html
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

REPORTS = "reports"


def export_dir(exports_root: Path, campaign_id: str, send_date: date) -> Path:
    """The folder of one campaign's sends on one day."""
    return exports_root / campaign_id / send_date.isoformat()


def export_dirs(exports_root: Path) -> Iterator[Path]:
    """Every campaign-day folder under the exports root, in name order."""
    if not exports_root.exists():
        return
    for campaign in sorted(p for p in exports_root.iterdir() if p.is_dir() and p.name != REPORTS):
        yield from sorted(p for p in campaign.iterdir() if p.is_dir())


def upload_files(out_dir: Path) -> tuple[Path, Path]:
    """The ESP upload: JSON lines with everything, and the CSV index of the .eml files."""
    return out_dir / "sends.jsonl", out_dir / "sends.csv"


def messages_dir(out_dir: Path) -> Path:
    return out_dir / "eml"


def message_archive(out_dir: Path, batch_no: int) -> Path:
    return messages_dir(out_dir) / f"batch-{batch_no:06d}.zip"


def message_member(batch_no: int, person_id: str) -> str:
    """How the upload's CSV names a message: archive path relative to the export, and entry."""
    return f"eml/batch-{batch_no:06d}.zip/{person_id}.eml"


def message_archives(out_dir: Path) -> list[Path]:
    return sorted(messages_dir(out_dir).glob("batch-*.zip"))


def parts_dir(out_dir: Path) -> Path:
    return out_dir / "parts"


def upload_parts(out_dir: Path, batch_no: int) -> tuple[Path, Path]:
    """Where a batch's upload lines wait, as JSON lines and CSV, until the exporter appends
    them to the upload in batch order."""
    folder = parts_dir(out_dir)
    return folder / f"batch-{batch_no:06d}.jsonl", folder / f"batch-{batch_no:06d}.csv"


def previews_dir(out_dir: Path) -> Path:
    return out_dir / "previews"


def previews_index(out_dir: Path) -> Path:
    return previews_dir(out_dir) / "index.html"


def preview_samples(out_dir: Path) -> Path:
    return previews_dir(out_dir) / "samples.json"


def campaign_report(exports_root: Path) -> Path:
    return exports_root / REPORTS / "campaign_report.html"
