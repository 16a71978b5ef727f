"""Where the sandbox keeps bookings: SQLite, in memory by default or in a file that survives restarts.

One code path for both: an in-memory database (``:memory:``) lives as long as the sandbox object; a
file database is opened lazily, written in autocommit mode and closed on :meth:`BookingStore.close`,
so another sandbox (or a restarted CLI) pointed at the same file sees every booking.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class StoredBooking:
    """A booking object plus what the service knows about it but does not show in the object."""

    booking: dict[str, Any]
    meeting_slug: str
    form_responses_as_hash: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0

    @property
    def sid(self) -> str:
        return str(self.booking["sid"])

    def to_json(self) -> str:
        return json.dumps(
            {
                "booking": self.booking,
                "meeting_slug": self.meeting_slug,
                "form_responses_as_hash": self.form_responses_as_hash,
                "history": self.history,
            }
        )

    @classmethod
    def from_row(cls, seq: int, text: str) -> StoredBooking:
        data = json.loads(text)
        return cls(
            booking=data["booking"],
            meeting_slug=data["meeting_slug"],
            form_responses_as_hash=data.get("form_responses_as_hash") or {},
            history=data.get("history") or [],
            seq=seq,
        )


class BookingStore:
    """Thread-safe booking storage. Every method returns fresh copies, never shared objects, except
    :meth:`snapshot`, whose records are shared and must only be read.

    :param path: a SQLite file to keep bookings in; ``None`` keeps them in memory only.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        # Parsed records by seq, kept in step with this store's own writes, so reading every booking
        # (each POST checks availability against all of them) does not decode thousands of JSON rows.
        # Dropped when another connection changed a shared file (PRAGMA data_version moves).
        self._cache: dict[int, StoredBooking] | None = None
        self._cache_data_version: int | None = None
        #: Moves on every change of the bookings (a cache key for what is derived from them).
        self.generation = 0

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path or ":memory:", check_same_thread=False, isolation_level=None)
            db.execute(
                "CREATE TABLE IF NOT EXISTS bookings ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " sid TEXT NOT NULL UNIQUE,"
                " record TEXT NOT NULL)"
            )
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db = db
        return self._db

    def add(self, record: StoredBooking) -> StoredBooking:
        with self.lock:
            cursor = self._connection().execute(
                "INSERT INTO bookings (sid, record) VALUES (?, ?)", (record.sid, record.to_json())
            )
            record.seq = int(cursor.lastrowid or 0)
            self.generation += 1
            if self._cache is not None:
                self._cache[record.seq] = StoredBooking.from_row(record.seq, record.to_json())
            return record

    def save(self, record: StoredBooking) -> None:
        with self.lock:
            self._connection().execute("UPDATE bookings SET record = ? WHERE sid = ?", (record.to_json(), record.sid))
            self._cache = None
            self.generation += 1

    def get(self, sid: str) -> StoredBooking | None:
        with self.lock:
            row = self._connection().execute("SELECT seq, record FROM bookings WHERE sid = ?", (sid,)).fetchone()
        return StoredBooking.from_row(row[0], row[1]) if row else None

    def has_sid(self, sid: str) -> bool:
        with self.lock:
            return self._connection().execute("SELECT 1 FROM bookings WHERE sid = ?", (sid,)).fetchone() is not None

    def all(self) -> list[StoredBooking]:
        """Every booking in creation order."""
        with self.lock:
            rows = self._connection().execute("SELECT seq, record FROM bookings ORDER BY seq").fetchall()
        return [StoredBooking.from_row(seq, text) for seq, text in rows]

    def snapshot(self) -> list[StoredBooking]:
        """Every booking in creation order, as shared records: read them, never change them."""
        with self.lock:
            db = self._connection()
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if self._cache is None or version != self._cache_data_version:
                rows = db.execute("SELECT seq, record FROM bookings ORDER BY seq").fetchall()
                self._cache = {seq: StoredBooking.from_row(seq, text) for seq, text in rows}
                self._cache_data_version = version
                self.generation += 1
            return list(self._cache.values())

    def clear(self) -> None:
        with self.lock:
            self._connection().execute("DELETE FROM bookings")
            self._cache = None
            self.generation += 1

    def close(self) -> None:
        """Close a file database (it reopens on next use); an in-memory one is kept."""
        with self.lock:
            if self._db is not None and self.path is not None:
                self._db.close()
                self._db = None
                self._cache = None
            self.generation += 1
