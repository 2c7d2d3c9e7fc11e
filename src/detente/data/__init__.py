"""Reference data shipped inside the package; see README.md here for sources and licences."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["TURKEY_TERRITORY", "bundled_path"]

TURKEY_TERRITORY = "turkey_territory_osm_10m.geojson"


def bundled_path(name: str) -> Path:
    """Filesystem path of a file shipped in ``detente/data`` (FileNotFoundError if absent)."""
    path = Path(str(resources.files(__name__).joinpath(name)))
    if not path.is_file():
        raise FileNotFoundError(f"detente data file {name!r} is not installed")
    return path
