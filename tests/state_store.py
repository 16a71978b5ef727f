"""A fake of Airflow 3.3's asset state store, as a watcher trigger sees it (``AssetStateStoreAccessors``
of one asset): ``aget`` / ``aset`` / ``adelete`` / ``aclear`` and their sync twins.

It behaves like the real accessor where the provider could go wrong: values cross a JSON boundary
(the real one sends them to the supervisor as pydantic ``JsonValue`` and the database stores text),
so what is read back is a fresh copy, tuples come back as lists, and a value that is not JSON
(a datetime, a set, nan) or ``None`` is refused when it is set. ``fail_reads`` / ``fail_writes`` make
the next calls raise, as a supervisor that does not answer would.
"""

from __future__ import annotations

import json
from typing import Any


class FakeAssetStateStore:
    """One asset's state store; ``values`` holds each key's JSON text."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0
        self.fail_reads = 0
        self.fail_writes = 0
        for key, value in (values or {}).items():
            self.set(key, value)

    def get(self, key: str, default: Any = None) -> Any:
        if self.fail_reads:
            self.fail_reads -= 1
            raise RuntimeError("asset state store: no answer from the supervisor")
        text = self.values.get(key)
        return default if text is None else json.loads(text)

    def set(self, key: str, value: Any) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        if self.fail_writes:
            self.fail_writes -= 1
            raise RuntimeError("asset state store: no answer from the supervisor")
        self.values[key] = json.dumps(value, allow_nan=False)  # TypeError / ValueError for non-JSON
        self.writes += 1

    def delete(self, key: str) -> None:
        self.values.pop(key, None)

    def clear(self) -> None:
        self.values.clear()

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.set(key, value)

    async def adelete(self, key: str) -> None:
        self.delete(key)

    async def aclear(self) -> None:
        self.clear()

    def only(self) -> Any:
        """The one value stored (a watcher keeps one key)."""
        (text,) = self.values.values()
        return json.loads(text)
