"""A node's configuration: which party it serves, its keys, its peers, and the links' terms.

The same TOML file as the hub's (``detente.service.config``) with one more table. Without it
the service is a hub for every party it declares, as before::

    [node]
    party = "TUR"                    # the one party this node serves
    key = "node-TUR.pem"             # this node's Ed25519 key: authenticates its links
    party_key = "keys/TUR.pem"       # the party's own key: co-signs its peers' tree heads
                                     # (key files beside this one, or "detente:NAME")

    [[node.peers]]                   # one per party this node has an agreement with
    party = "RUS"
    url = "http://127.0.0.1:8102"    # where the peer's node listens
    public_key = "MCowBQYDK2VwAyEA..."  # the peer node's public key (from the agreement)

and, per agreement, the terms of the link between the two parties' nodes::

    [agreements.link]
    silence_s = 30.0                 # a link silent longer than this is an incident
    clock_tolerance_s = 2.0          # clocks further apart than this are an alert

Checked at start, each refusal naming its key: a peer without a key, an agreement with a
party that has no peer (or a peer with no agreement), a party or key the configuration does
not know, and an agreement that shares too little for the protection a party declares: no
shared zone within the incursion look-ahead of a protected border (a jet at
``REACH_SPEED_MPS`` flies that far in ``lookahead_s``), or a delay as long as the look-ahead.
A node whose ``[service]`` names no ``log_key`` keeps its log key in
``detente-log-PARTY.pem``: nodes started side by side from one folder each keep their own.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import shapely
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from detente.data import bundled_path
from detente.errors import DetenteError, InputError
from detente.geo.projection import LocalProjection
from detente.ledger.keys import load_private_key, public_key_bytes
from detente.service.config import Config, parse_config, read_toml
from detente.service.keys import parse_public_key

__all__ = [
    "DEFAULT_CLOCK_TOLERANCE_S",
    "DEFAULT_SILENCE_S",
    "REACH_SPEED_MPS",
    "NodeConfig",
    "Peer",
    "load_node",
    "parse_node",
]

DEFAULT_SILENCE_S = 30.0
DEFAULT_CLOCK_TOLERANCE_S = 2.0
# How far an aircraft may fly in an agreement's look-ahead, for the check that a party sees
# enough of the other's aircraft to protect its airspace: a jet at cruise (about Mach 0.85).
REACH_SPEED_MPS = 250.0


@dataclass(frozen=True)
class Peer:
    """Another party's node: where it listens, the key its link frames are signed with, and
    the terms of the link from the agreement between the two parties (s)."""

    party: str
    url: str
    public_key: Ed25519PublicKey = field(repr=False)
    silence_s: float = DEFAULT_SILENCE_S
    clock_tolerance_s: float = DEFAULT_CLOCK_TOLERANCE_S

    @property
    def public_bytes(self) -> bytes:
        return public_key_bytes(self.public_key)


@dataclass(frozen=True)
class NodeConfig:
    """One party's node: its party, its link key, its party key, and its peers by party."""

    party: str
    key: Ed25519PrivateKey = field(repr=False)
    party_key: Ed25519PrivateKey = field(repr=False)
    peers: Mapping[str, Peer] = field(default_factory=dict)

    def dials(self, peer: str) -> bool:
        """Whether this node opens the link to ``peer`` (the party first in order does; the
        other waits for it), so that two nodes hold one link, not two."""
        return self.party < peer


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if value is None:
        raise InputError(f"{where}.{key}: missing")
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def _number(table: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value <= 0):
        raise InputError(f"{where}.{key}: expected a number > 0, got {value!r}")
    return float(value)


def _private_key(name: str, base: Path, where: str) -> Ed25519PrivateKey:
    """A key file next to the configuration, or ``detente:NAME`` shipped in the package (the
    demo's keys, public for anyone)."""
    try:
        if name.startswith("detente:"):
            path = bundled_path(name.removeprefix("detente:"))
        else:
            path = base / name
        return load_private_key(path)
    except FileNotFoundError as exc:
        raise InputError(f"{where}: {exc}") from None
    except DetenteError as exc:
        raise InputError(f"{where}: {exc}") from None


def parse_node(data: Mapping[str, Any], config: Config, base: Path = Path(".")
               ) -> NodeConfig | None:
    """The ``[node]`` table of a parsed TOML document, checked against ``config`` (the same
    document's hub configuration); None when there is none (a hub). Relative key files
    resolve from ``base``."""
    node = data.get("node")
    if node is None:
        return None
    if not isinstance(node, Mapping):
        raise InputError(f"node: expected a table, got {node!r}")
    party = _text(node, "party", "node")
    if party not in config.parties:
        raise InputError(f"node.party: {party!r} is not a declared party "
                         f"({', '.join(config.parties)})")
    key = _private_key(_text(node, "key", "node"), base, "node.key")
    party_key = _private_key(_text(node, "party_key", "node"), base, "node.party_key")
    if public_key_bytes(party_key) not in {public_key_bytes(k)
                                           for k in config.parties[party].public_keys}:
        raise InputError(f"node.party_key: not a key the configuration lists for {party} "
                         f"(parties.public_keys)")
    links = _link_terms(data, config, party)
    raw_peers = node.get("peers", [])
    if not isinstance(raw_peers, list):
        raise InputError(f"node.peers: expected an array of tables, got {raw_peers!r}")
    peers: dict[str, Peer] = {}
    for k, pr in enumerate(raw_peers):
        where = f"node.peers[{k}]"
        if not isinstance(pr, Mapping):
            raise InputError(f"{where}: expected a table, got {pr!r}")
        other = _text(pr, "party", where)
        if other not in config.parties:
            raise InputError(f"{where}.party: {other!r} is not a declared party")
        if other == party:
            raise InputError(f"{where}.party: {other!r} is this node's own party")
        if other in peers:
            raise InputError(f"{where}.party: a second peer for {other!r}")
        if config.agreement(party, other) is None:
            raise InputError(f"{where}.party: no agreement between {party} and {other}: "
                             "nothing to exchange")
        url = _text(pr, "url", where)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"{where}.url: expected http(s)://host:port, got {url!r}")
        text = _text(pr, "public_key", where)
        try:
            public = parse_public_key(text)
        except InputError as exc:
            raise InputError(f"{where}.public_key: {exc}") from None
        silence, tolerance = links.get(other, (DEFAULT_SILENCE_S, DEFAULT_CLOCK_TOLERANCE_S))
        peers[other] = Peer(other, url.rstrip("/"), public, silence, tolerance)
    for k, ag in enumerate(config.agreements):
        if party in ag.parties and ag.other(party) not in peers:
            raise InputError(
                f"agreements[{k}].parties: {ag.other(party)} has no entry in node.peers (a "
                "node needs the node of every party it has an agreement with)")
    check_protection(config)
    return NodeConfig(party, key, party_key, peers)


def _link_terms(data: Mapping[str, Any], config: Config, party: str
                ) -> dict[str, tuple[float, float]]:
    """Per agreement of ``party``, its ``link`` table: silence_s and clock_tolerance_s, by
    the other party (parse_config has checked the agreements already, in the same order)."""
    out: dict[str, tuple[float, float]] = {}
    raw = data.get("agreements", [])
    for k, (ar, ag) in enumerate(zip(raw, config.agreements, strict=True)):
        link = ar.get("link", {})
        where = f"agreements[{k}].link"
        if not isinstance(link, Mapping):
            raise InputError(f"{where}: expected a table, got {link!r}")
        terms = (_number(link, "silence_s", DEFAULT_SILENCE_S, where),
                 _number(link, "clock_tolerance_s", DEFAULT_CLOCK_TOLERANCE_S, where))
        if party in ag.parties:
            out[ag.other(party)] = terms
    return out


def check_protection(config: Config) -> None:
    """Refuse an agreement under which a party protecting airspace could not see the other's
    aircraft coming: no zone the other shares comes within the look-ahead's reach of the
    border, or its tracks come as late as the look-ahead itself. In a mesh each node detects
    with what it is sent; in a hub detection sees everything, so the hub does not ask this."""
    airspaces = config.load_airspaces()
    if not airspaces:
        return
    projection = LocalProjection(*config.centre)

    def projected(g: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(g, lambda xy: _forward(projection, xy))

    for k, ag in enumerate(config.agreements):
        for owner in ag.parties:
            mine = [a for a in airspaces if a.owner == owner]
            if not mine:
                continue
            other = ag.other(owner)
            share = ag.shares[other]
            where = f"agreements[{k}].shares.{other}"
            if share.delay_s >= ag.lookahead_s:
                raise InputError(
                    f"{where}.delay_s: {share.delay_s:g} s is not shorter than the look-ahead "
                    f"({ag.lookahead_s:g} s): {owner} could not see an aircraft of {other} "
                    "coming into the airspace it protects")
            if share.zones is None:
                continue
            reach = ag.lookahead_s * REACH_SPEED_MPS
            zones = projected(share.zones)
            if not any(zones.intersects(projected(a.geometry).buffer(reach)) for a in mine):
                raise InputError(
                    f"{where}.zones: no zone {other} shares comes within the incursion "
                    f"look-ahead ({ag.lookahead_s:g} s, {reach / 1000:.0f} km) of airspace "
                    f"{owner} protects ({', '.join(a.name for a in mine)})")


def _forward(projection: LocalProjection, lonlat: np.ndarray) -> np.ndarray:
    x, y = projection.forward(lonlat[:, 1], lonlat[:, 0])
    return np.column_stack([x, y])


def load_node(path: str | Path) -> tuple[Config, NodeConfig | None]:
    """Read a TOML configuration: the hub's terms, and the node's when it has a [node]."""
    p = Path(path)
    data = read_toml(p)
    try:
        config = parse_config(data, p.parent)
        node = parse_node(data, config, p.parent)
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from None
    if node is not None and "log_key" not in data.get("service", {}):
        # Nodes started side by side from one directory keep a log key each.
        config = dataclasses.replace(config, settings=dataclasses.replace(
            config.settings, log_key_file=Path(f"detente-log-{node.party}.pem")))
    return config, node
