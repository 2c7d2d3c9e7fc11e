"""The hotline from the command line: send, list, acknowledge, and a message's timeline.

Messages and acknowledgements are signed here, with the official's own key, before they leave
(the service only checks, records and delivers them). `timeline` reads a record export
offline, after checking the whole export, and prints who knew what, when.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from detente.cli.options import add_login_options
from detente.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    send = sub.add_parser("send", help="send a message to another party")
    add_login_options(send, official="required")
    send.add_argument("--to", required=True, metavar="PARTY", help="addressee party")
    send.add_argument("--to-official", default=None, help="a named official of that party")
    send.add_argument("--priority", default="urgent", choices=("routine", "urgent", "flash"))
    send.add_argument("--alert", default=None, help="the alert id the message is about")
    send.add_argument("--id", default=None, help="message id (to retry without duplicates)")
    send.add_argument("text", help="the message (up to 4,000 characters)")
    ls = sub.add_parser("list", help="messages of your party, oldest first")
    add_login_options(ls, official="required")
    ack = sub.add_parser("ack", help="acknowledge a message addressed to you")
    add_login_options(ack, official="required")
    ack.add_argument("message_id")
    ack.add_argument("--reply", default=None, help="an optional reply text")
    tl = sub.add_parser("timeline", help="a message's history from a record export (offline)")
    tl.add_argument("message_id")
    tl.add_argument("--export", required=True, metavar="RECORD_EXPORT",
                    help="file written by detente export")


def _utc(t: float | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _show(m: dict[str, Any]) -> str:
    ack = m.get("ack")
    state = m["state"] + (f" by {ack['by']} at {_utc(ack['at'])}" if ack else "")
    return (f"{m['id']}  {m['priority']:<7} {m['from_party']}/{m['from_official'] or 'auto'} -> "
            f"{m['to_party']}{'/' + m['to_official'] if m['to_official'] else ''}  level "
            f"{m['level']}  deadline {_utc(m['deadline'])}  {state}  record #{m['record_index']}"
            f"\n    {m['body']}" + (f"\n    reply: {ack['reply']}" if ack and ack["reply"]
                                    else ""))


def run(args: argparse.Namespace) -> int:
    if args.action == "timeline":
        return _timeline(args.message_id, args.export)
    from detente.cli.client import ServiceClient

    with ServiceClient(args.url, args.party, args.key, official=args.official) as c:
        if args.action == "send":
            out = c.send_message(args.to, args.priority, args.text, args.to_official,
                                 args.alert, args.id)
            print(_show(out["message"]))
        elif args.action == "list":
            for m in c.messages():
                print(_show(m))
        else:
            print(_show(c.acknowledge(args.message_id, args.reply)["message"]))
    return 0


def _timeline(message_id: str, path: str) -> int:
    from detente.ledger.audit import audit_export

    try:
        with open(path, "rb") as f:
            lines = f.readlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    report = audit_export(lines)  # a timeline from a record that does not verify is worthless
    message_index = None
    rows: list[tuple[float, int, str]] = []
    for raw in lines[1:]:
        item = json.loads(raw)
        if "leaf" not in item:
            continue
        st = item["leaf"]["statement"]
        body = st["body"]
        if st["kind"] == "hotline.message" and body.get("id") == message_id:
            message_index = item["index"]
            to = body["to_party"] + (f"/{body['to_official']}" if body.get("to_official") else "")
            rows.append((st["time"], item["index"],
                         f"{st['author']} sent {body['priority']} to {to}: {body['body']!r}"))
        elif message_index is not None and st["ref"] == message_index:
            rows.append((st["time"], item["index"], f"{st['author']} {_step(st['kind'], body)}"))
    if message_index is None:
        raise InputError(f"no hotline message {message_id!r} in {path}")
    print(f"message {message_id}, record entry #{message_index}; {report.summary()}")
    for t, index, text in sorted(rows):
        print(f"{_utc(t)}  #{index:<6} {text}")
    return 0


def _step(kind: str, b: dict[str, Any]) -> str:
    """A recorded step of a message, in words."""
    if kind == "hotline.delivery":
        return f"delivered to {b['official']} (level {b['level']})"
    if kind == "hotline.escalated":
        return (f"escalated: addressee level {b['level']}, sender level {b['sender_level']}, "
                f"next deadline {_utc(b['deadline'])}")
    if kind == "hotline.overdue":
        return "overdue at the top of both ladders"
    if kind == "hotline.ack":
        return "acknowledged" + (f": {b['reply']!r}" if b.get("reply") else "")
    return kind
