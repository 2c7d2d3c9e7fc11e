"""Hub or node, from the same code: what differs at start, in one place.

A hub (no ``NodeConfig``) serves every party of its configuration under one log; a node
serves one party, under a log of its own name, and lets only that party's people log in.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import Engine

from detente.service.clock import Clock
from detente.service.config import Config
from detente.service.mechanism import Mechanism
from detente.service.mesh.node_config import NodeConfig
from detente.service.record import Record

__all__ = ["log_name", "mechanism_for", "served"]


def log_name(config: Config, node: NodeConfig | None) -> str:
    """The name the log's origin is made from: one per hub, one per party's node."""
    base = f"detente/{config.region_name}"
    return base if node is None else f"{base}/{node.party}"


def served(config: Config, node: NodeConfig | None) -> Config:
    """The configuration logins are checked against: a node's own party only."""
    if node is None:
        return config
    return dataclasses.replace(config, parties={node.party: config.parties[node.party]})


def mechanism_for(config: Config, engine: Engine, clock: Clock, record: Record | None,
                  node: NodeConfig | None) -> Mechanism:
    if node is None:
        return Mechanism(config, engine, clock, record)
    from detente.service.mesh.mechanism import MeshMechanism

    return MeshMechanism(config, engine, clock, record, node)
