"""Loading the sandbox's meetings: the shipped ``meetings.json``, a list of dicts, or a JSON/YAML file.

A configuration file has the shape of ``meetings.json``: ``{"meetings": [{...}, ...]}``. YAML needs
PyYAML, imported only when a ``.yaml``/``.yml`` file is given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from airflow_provider_neetocal.sandbox.scheduling import ConfigError, Meeting

MeetingsSource = Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | os.PathLike[str] | None


def default_meetings_config() -> dict[str, Any]:
    """The shipped seed: ``meetings.json`` next to this module."""
    text = resources.files("airflow_provider_neetocal.sandbox").joinpath("meetings.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def read_config_file(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON or YAML configuration file (chosen by extension)."""
    file = Path(path)
    text = file.read_text("utf-8")
    if file.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{file}: reading YAML needs PyYAML (pip install pyyaml), or use JSON") from None
        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: not valid JSON: {exc}") from None


def load_meetings(source: MeetingsSource = None) -> list[Meeting]:
    """Meetings from the default seed (``None``), a list of meeting dicts, a config mapping or a file path."""
    if source is None:
        data: Any = default_meetings_config()
    elif isinstance(source, (str, os.PathLike)):
        data = read_config_file(source)
    else:
        data = source
    if isinstance(data, Mapping):
        data = data.get("meetings")
    if not isinstance(data, Sequence) or isinstance(data, (str, bytes)) or not data:
        raise ConfigError('The configuration must be {"meetings": [...]} with at least one meeting')
    meetings = [Meeting.from_config(item) for item in data]
    for attribute in ("slug", "sid", "id"):
        values = [getattr(meeting, attribute) for meeting in meetings]
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates:
            raise ConfigError(f"Meeting {attribute}s must be unique; repeated: {', '.join(duplicates)}")
    return meetings
