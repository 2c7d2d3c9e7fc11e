"""The demo's story as text: what the parties are told, one line per event, as it happens.

``Story.observe`` is given what each party's client reads from the service (its open alerts
and its hotline messages) and returns the lines of what changed since the last look: a warning
raised (an alert at warning or critical), an alert cleared, a message sent, escalated, overdue,
acknowledged. The demo prints them, so that someone without a browser follows the scenario.
Nothing here reads the service itself: the views are the parties' own, as the API gives them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Story"]

_SHOWN = ("warning", "critical")
_TEXT_MAX = 300  # characters of a message body on its line


class Story:
    """What has been told so far, to tell only what changes."""

    def __init__(self, config: Any, url: str, keys: Path, since: float = 0.0) -> None:
        # (party, level) -> the official at that level of the party's ladder
        self.officials = {(p.id, o.level): o.id for p in config.parties.values()
                          for o in p.officials}
        self.url = url
        self.keys = keys
        self.alerts: dict[str, tuple[str, str]] = {}  # id -> (severity told, description)
        self.messages: dict[str, dict[str, Any]] = {}  # id -> the view last told
        self.hinted = False
        # Messages sent before this start (a carried-on record) are told as one line.
        self.since = since
        self.first = True

    def observe(self, now: float, views: dict[str, tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]]) -> list[str]:
        """Lines for what changed; ``views`` maps each party to (its open alerts, its hotline
        messages), as ``GET /v1/alerts`` and ``GET /v1/hotline/messages`` give them."""
        lines: list[str] = []
        lines += self._alerts(now, [a for alerts, _ in views.values() for a in alerts])
        seen: dict[str, dict[str, Any]] = {}
        for _, messages in views.values():
            for m in messages:
                seen.setdefault(m["id"], m)
        if self.first:
            self.first = False
            earlier = [m for m in seen.values() if m["created_at"] < self.since]
            for m in earlier:
                self.messages[m["id"]] = m
            if earlier:
                states = ", ".join(f"{sum(m['state'] == k for m in earlier)} {k}"
                                   for k in ("sent", "escalated", "overdue", "acknowledged")
                                   if any(m["state"] == k for m in earlier))
                noun = "message" if len(earlier) == 1 else "messages"
                lines.append(_line(now, "BEFORE", f"{len(earlier)} hotline {noun} from before "
                                                  f"this start ({states})"))
        for m in sorted(seen.values(), key=lambda m: (m["created_at"], m["id"])):
            lines += self._message(now, m)
        return lines

    def _alerts(self, now: float, views: list[dict[str, Any]]) -> list[str]:
        # Each party's view names its own aircraft only: put the names together.
        by_id: dict[str, dict[str, Any]] = {}
        names: dict[str, dict[str, str]] = {}
        for v in views:
            by_id.setdefault(v["id"], v)
            for t in v.get("tracks", []):
                if t.get("id"):
                    names.setdefault(v["id"], {})[t["party"]] = t["id"]
        lines = []
        for alert_id, v in by_id.items():
            if v["severity"] not in _SHOWN:
                continue
            told = self.alerts.get(alert_id)
            if told is not None and _rank(told[0]) >= _rank(v["severity"]):
                continue
            what = _describe(v, names.get(alert_id, {}))
            self.alerts[alert_id] = (v["severity"], what)
            lines.append(_line(v.get("updated_at", now), v["severity"].upper(),
                               f"{what} (alert {alert_id[:8]}; told to "
                               f"{' and '.join(v['parties'])})"))
        for alert_id in [a for a in self.alerts if a not in by_id]:
            _, what = self.alerts.pop(alert_id)
            lines.append(_line(now, "CLEARED", f"alert {alert_id[:8]}: {what}"))
        return lines

    def _message(self, now: float, m: dict[str, Any]) -> list[str]:
        before = self.messages.get(m["id"])
        self.messages[m["id"]] = m
        short = m["id"][:8]
        lines = []
        if before is None:
            sender = (f"{m['from_party']}/{m['from_official']}" if m["from_official"]
                      else f"{m['from_party']} (automatic)")
            to = m["to_party"] + (f"/{m['to_official']}" if m.get("to_official") else "")
            text = m["body"] if len(m["body"]) <= _TEXT_MAX else m["body"][:_TEXT_MAX] + "..."
            lines.append(_line(m["created_at"], "SENT",
                               f"{m['priority']} {sender} -> {to}: \"{text}\" (message "
                               f"{m['id']})"))
            lines += self._hint(m)
            before = {**m, "state": "sent", "level": 1, "sender_level": 1, "ack": None}
        if (m["level"], m["sender_level"]) > (before["level"], before["sender_level"]):
            to = self.officials.get((m["to_party"], m["level"]), f"level {m['level']}")
            back = self.officials.get((m["from_party"], m["sender_level"]),
                                      f"level {m['sender_level']}")
            deadline = "" if m["deadline"] is None else f"; next deadline {_clock(m['deadline'])}"
            lines.append(_line(_due(before, now), "ESCALATED",
                               f"message {short} unanswered: now to {m['to_party']} {to} "
                               f"(level {m['level']}) and {m['from_party']} {back} (level "
                               f"{m['sender_level']}){deadline}"))
        if m["state"] == "overdue" and before["state"] != "overdue":
            lines.append(_line(_due(before, now), "OVERDUE",
                               f"message {short} unanswered at the top of both ladders"))
        ack = m.get("ack")
        if ack and not before.get("ack"):
            reply = f": \"{ack['reply']}\"" if ack.get("reply") else ""
            lines.append(_line(ack["at"], "ACKNOWLEDGED",
                               f"message {short} by {m['to_party']}/{ack['by']}{reply}"))
        return lines

    def _hint(self, m: dict[str, Any]) -> list[str]:
        """Once: how to acknowledge without a browser."""
        official = m.get("to_official") or self.officials.get((m["to_party"], m["level"]))
        if self.hinted or official is None:
            return []
        self.hinted = True
        return [f"    (no browser? acknowledge it with: detente hotline ack {m['id']} --party "
                f"{m['to_party']} --official {official} --key {self.keys / (official + '.pem')} "
                f"--url {self.url} --reply \"...\")"]


def _due(before: dict[str, Any], now: float) -> float:
    """When an escalation happened: at the deadline it passed (the service acts on it within
    a cycle), else when it was seen."""
    return before["deadline"] if before.get("deadline") is not None else now


def _rank(severity: str) -> int:
    return {"advisory": 0, "warning": 1, "critical": 2}.get(severity, 0)


def _describe(v: dict[str, Any], names: dict[str, str]) -> str:
    tracks = [f"{t['party']} {names.get(t['party']) or t.get('id') or 'aircraft'}"
              for t in v.get("tracks", [])]
    d = v.get("detail", {})
    to_go = f"{v['t_to_go_s']:.0f} s"
    if v["kind"] == "incursion":
        where = d.get("airspace", "protected airspace")
        if d.get("violation"):
            return f"incursion: {', '.join(tracks)} INSIDE {where}"
        return f"incursion: {', '.join(tracks)} enters {where} in {to_go}"
    closest = f", closest {d['d_cpa_m']:,.0f} m" if isinstance(d.get("d_cpa_m"), int | float) \
        else ""
    return f"{v['kind']}: {' and '.join(tracks)} lose separation in {to_go}{closest}"


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


def _line(t: float, what: str, text: str) -> str:
    return f"{_clock(t)}  {what:<12} {text}"
