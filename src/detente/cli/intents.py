"""Operational intents (ASTM F3548-21 semantics): ``detente intents check FILE.json``.

``check`` reads a JSON list of intents (see ``detente.formats.intents_json``; examples/intents.json
is one) and prints CSV on stdout, one row per pair of intents of different owners that
intersect in 4-D: id1,owner1,id2,owner2,volumes, with id1 < id2 and ``volumes`` the
intersecting volume pairs as "i:j" (volume i of id1 with volume j of id2) joined by spaces.
Intervals are closed and footprints within 1 cm touch. States and priorities are not judged
here: every overlap is listed. A summary goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys

from detente.cli.options import open_input
from detente.engines.strategic import find_conflicts
from detente.formats.intents_json import read_intents_json

HEADER = ("id1", "owner1", "id2", "owner2", "volumes")

_CHECK_HELP = "list every pair of intents of different owners whose 4-D volumes intersect"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="intents_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help=_CHECK_HELP,
        description=_CHECK_HELP + ". Output: CSV on stdout with the header "
        + ",".join(HEADER) + '; volumes lists the intersecting volume pairs as "i:j" (volume i '
        "of id1, volume j of id2) separated by spaces. A summary goes to stderr.",
    )
    check.add_argument("intents", metavar="FILE.json", help="JSON list of intents, or - for stdin")
    check.set_defaults(_action=_check)


def run(args: argparse.Namespace) -> int:
    return int(args._action(args))


def _check(args: argparse.Namespace) -> int:
    with open_input(args.intents) as (stream, source):
        intents = read_intents_json(stream, source)
    found = find_conflicts(intents)
    rows = []
    for i, j, volume_pairs in found.intent_pairs():
        a, b = intents[i], intents[j]
        if a.id > b.id:
            a, b = b, a
            volume_pairs = [(vj, vi) for vi, vj in volume_pairs]
        cells = " ".join(f"{vi}:{vj}" for vi, vj in sorted(volume_pairs))
        rows.append((a.id, a.owner, b.id, b.owner, cells))
    rows.sort()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    sys.stdout.write(out.getvalue())
    print(f"{len(intents)} intents, {len(rows)} conflicting pairs", file=sys.stderr)
    return 0
