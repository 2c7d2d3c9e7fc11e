"""Write the three node configurations of examples/mesh/ (TUR, RUS, COA on one machine).

Each is the demo's configuration (detente/data/demo/border.toml: parties, officials, the
agreements, Turkey's territory) with a [node] table: the party the node serves, its node key
and party key (the demo's, shipped in the package and public on purpose) and its two peers,
each with the URL its node listens on and its node public key. Run from the repository root:

    python examples/mesh/make_configs.py
"""

from __future__ import annotations

from pathlib import Path

from detente.data import bundled_path
from detente.ledger.keys import load_private_key, public_key_b64

PORTS = {"TUR": 8101, "RUS": 8102, "COA": 8103}


def node_table(party: str) -> str:
    lines = ["", "# This node: the one party it serves, its keys, and the nodes of its peers.",
             "[node]", f'party = "{party}"', f'key = "detente:demo/nodes/node-{party}.pem"',
             f'party_key = "detente:demo/keys/{party}.pem"']
    for peer, port in PORTS.items():
        if peer == party:
            continue
        key = load_private_key(bundled_path(f"demo/nodes/node-{peer}.pem"))
        lines += ["", "[[node.peers]]", f'party = "{peer}"',
                  f'url = "http://127.0.0.1:{port}"', f'public_key = "{public_key_b64(key)}"']
    return "\n".join(lines) + "\n"


def main() -> None:
    base = bundled_path("demo/border.toml").read_text(encoding="utf-8")
    here = Path(__file__).parent
    for party in PORTS:
        head = (f"# {party}'s node of the demo mesh (written by examples/mesh/make_configs.py "
                "from detente/data/demo/border.toml).\n"
                f"# detente serve --config examples/mesh/{party}.toml --db "
                f"sqlite:///{party.lower()}.sqlite --port {PORTS[party]}\n\n")
        (here / f"{party}.toml").write_text(head + base + node_table(party), encoding="utf-8")


if __name__ == "__main__":
    main()
