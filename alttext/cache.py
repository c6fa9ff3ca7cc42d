"""The description cache: what the model said of each image, kept between runs in sqlite."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import asdict
from pathlib import Path

from alttext.describe import Description


def cache_dir() -> Path:
    if os.environ.get("ALTTEXT_CACHE_DIR"):
        return Path(os.environ["ALTTEXT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alttext"


class Cache:
    """Descriptions kept between runs, keyed by image hash and model id (off without a model id)."""

    def __init__(self, model_id: str | None, directory: Path | None = None):
        self.model_id = model_id
        self.db = None
        if model_id is None:
            return
        directory = directory or cache_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(directory / "captions.sqlite3", timeout=30)
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS captions"
                " (model TEXT, digest TEXT, description TEXT, PRIMARY KEY (model, digest))"
            )
        except (OSError, sqlite3.Error):
            self.db = None  # a run without a cache is slower, not wrong

    def get(self, digest: str, source: str) -> Description | None:
        if self.db is None:
            return None
        try:
            row = self.db.execute(
                "SELECT description FROM captions WHERE model = ? AND digest = ?",
                (self.model_id, digest),
            ).fetchone()
            return Description(source=source, **json.loads(row[0])) if row else None
        except (sqlite3.Error, ValueError, TypeError):
            self.db = None
            return None

    def put(self, found: dict[str, Description]) -> None:
        if self.db is None:
            return
        rows = [
            (
                self.model_id,
                digest,
                json.dumps({k: v for k, v in asdict(d).items() if k != "source"}),
            )
            for digest, d in found.items()
            if d.action != "error"
        ]
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO captions VALUES (?, ?, ?)", rows)
        except sqlite3.Error:
            self.db = None
