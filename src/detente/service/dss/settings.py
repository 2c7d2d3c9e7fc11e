"""The ``[dss]`` section of a configuration: who may speak ASTM F3548-21 to detente, for whom.

::

    [dss]
    public_keys = ["auth.pem"]          # the token issuers' RS256 public keys (PEM files)
    audiences = ["dss.example.org"]     # the host names USSs call this service by
    regions = [[46.97, 7.48]]           # optional: more areas served, beside region.centre
    max_area_km2 = 2500                 # optional: largest polygon or circle (query, write)
    max_subscription_s = 86400          # optional: longest subscription (F3548: 24 h)

    [[dss.managers]]
    id = "uss1"                         # the `sub` of its access tokens
    party = "TUR"                       # the party it flies for

A manager is a USS (the software a drone operator uses) and flies for one party: its intents
are that party's intents for detente (agreements, priorities, alerts), and it may change only
its own. A token whose ``sub`` is not listed is refused (403).

Errors name the key path and the value, like the rest of the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from detente.errors import InputError

__all__ = ["DssSettings", "parse_dss_settings"]


@dataclass(frozen=True)
class DssSettings:
    """See the module docstring. ``managers`` maps a token's ``sub`` to its party."""

    public_keys: tuple[RSAPublicKey, ...] = field(repr=False)
    audiences: tuple[str, ...]
    managers: Mapping[str, str]
    regions: tuple[tuple[float, float], ...] = ()
    max_area_km2: float = 2_500.0
    max_subscription_s: float = 86_400.0


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, str) and v.strip() for v in value)):
        raise InputError(f"{where}: expected a non-empty list of strings, got {value!r}")
    return tuple(value)


def _number(table: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value <= 0):
        raise InputError(f"{where}.{key}: expected a number > 0, got {value!r}")
    return float(value)


def _rsa_key(path: Path, where: str) -> RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise InputError(f"{where}: cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{where}: {path} is not a PEM public key: {exc}") from None
    if not isinstance(key, RSAPublicKey):
        raise InputError(f"{where}: {path} holds a {type(key).__name__}, not an RSA key "
                         f"(F3548 tokens are RS256)")
    return key


def parse_dss_settings(raw: Any, base: Path, parties: Collection[str],
                       where: str = "dss") -> DssSettings | None:
    """The settings of a ``[dss]`` table (None when there is none); files resolve from
    ``base``; every manager's party must be one of ``parties``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: expected a table, got {raw!r}")
    known = {"public_keys", "audiences", "managers", "regions", "max_area_km2",
             "max_subscription_s"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    keys = tuple(_rsa_key(base / p, f"{where}.public_keys[{k}]")
                 for k, p in enumerate(_strings(raw.get("public_keys"), f"{where}.public_keys")))
    audiences = _strings(raw.get("audiences"), f"{where}.audiences")
    managers: dict[str, str] = {}
    entries = raw.get("managers", [])
    if not isinstance(entries, list):
        raise InputError(f"{where}.managers: expected an array of tables, got {entries!r}")
    for k, entry in enumerate(entries):
        at = f"{where}.managers[{k}]"
        if not isinstance(entry, Mapping) or set(entry) != {"id", "party"}:
            raise InputError(f"{at}: expected a table with id and party, got {entry!r}")
        ident, party = entry["id"], entry["party"]
        if not isinstance(ident, str) or not ident.strip():
            raise InputError(f"{at}.id: expected a non-empty string, got {ident!r}")
        if ident in managers:
            raise InputError(f"{at}.id: duplicate manager {ident!r}")
        if party not in parties:
            raise InputError(f"{at}.party: {party!r} is not a declared party")
        managers[ident] = party
    regions = []
    for k, centre in enumerate(raw.get("regions", [])):
        if (not isinstance(centre, list) or len(centre) != 2
                or not all(isinstance(c, int | float) and not isinstance(c, bool)
                           for c in centre)
                or not -90 <= centre[0] <= 90 or not -180 <= centre[1] <= 180):
            raise InputError(f"{where}.regions[{k}]: expected [lat, lon] in degrees, "
                             f"got {centre!r}")
        regions.append((float(centre[0]), float(centre[1])))
    return DssSettings(
        public_keys=keys, audiences=audiences, managers=managers, regions=tuple(regions),
        max_area_km2=_number(raw, "max_area_km2", 2_500.0, where),
        max_subscription_s=_number(raw, "max_subscription_s", 86_400.0, where),
    )
