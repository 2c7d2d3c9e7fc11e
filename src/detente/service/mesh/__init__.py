"""Every party runs its own node: the mesh deployment of the mechanism.

A node serves one party (``node_config``: its keys, its peers, the links' terms), runs the
hub's mechanism for that party (``mechanism.MeshMechanism``) and talks to its peers' nodes
over authenticated links of signed, sequenced frames (``frames``, ``link``, ``dial``): its
party's aircraft as the agreements give them, filtered at the source (``source``), alerts and
hotline traffic for the peers' parties, receipts, and its log's tree heads for its peers to
witness (``witness``). What a node refuses it keeps as evidence and tells its party
(``incidents``). ``node.MeshNode`` holds the links and makes sense of what comes in.
"""

from detente.service.mesh.frames import DURABLE_KINDS, LIVE_KINDS, Frame, FrameError
from detente.service.mesh.incidents import Incident, Incidents
from detente.service.mesh.link import Link, LinkClosed, Transport
from detente.service.mesh.node_config import (
    NodeConfig,
    Peer,
    check_protection,
    load_node,
    parse_node,
)

__all__ = [
    "DURABLE_KINDS",
    "LIVE_KINDS",
    "Frame",
    "FrameError",
    "Incident",
    "Incidents",
    "Link",
    "LinkClosed",
    "NodeConfig",
    "Peer",
    "Transport",
    "check_protection",
    "load_node",
    "parse_node",
]
