"""Run the service: FastAPI on uvicorn, embedded SQLite by default.

On PostgreSQL (``--db postgresql://USER@HOST:PORT/NAME``) several instances of one node can run
on one database: one leads, the others follow and take over when it fails
(``service.leadership``); each says where the others reach it with ``--advertise``.

The configuration (TOML) declares the region, the parties with their public keys and officials,
the protected airspaces and the agreements; see detente/data/demo/border.toml. Without a
``[node]`` table the service is a hub for every party it declares; with one it is that one
party's node of a mesh, linked to its peers' nodes (see ``detente.service.mesh.node_config``).
A configuration that cannot work is refused before anything starts, in one line naming the
key.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detente.cli.options import check_port_free
from detente.store.database import DEFAULT_DATABASE_URL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="configuration TOML (default: the built-in demo configuration, "
                             "detente/data/demo/border.toml)")
    parser.add_argument("--db", default=DEFAULT_DATABASE_URL, metavar="URL",
                        help="SQLAlchemy database URL (default %(default)s, a file in the "
                             "working directory)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    parser.add_argument("--advertise", default=None, metavar="URL",
                        help="on PostgreSQL, where the node's other instances reach this one's "
                             "API (default http://HOST:PORT)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from detente.api.app import create_app
    from detente.data import bundled_path
    from detente.service.mesh.node_config import load_node

    config, node = load_node(Path(args.config) if args.config
                             else bundled_path("demo/border.toml"))
    check_port_free(args.host, args.port)
    advertise = args.advertise or f"http://{args.host}:{args.port}"
    app = create_app(config, args.db, advertise=advertise, mesh=node)
    if node is None:
        what = (f"hub of {len(config.parties)} parties, {len(config.agreements)} "
                "agreements")
    else:
        what = f"{node.party}'s node, peers {', '.join(node.peers) or 'none'}"
    print(f"detente: {config.region_name}, {what}; database {args.db}; "
          f"http://{args.host}:{args.port} (OpenAPI at /docs)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                ws="websockets-sansio", ws_per_message_deflate=False)
    return 0
