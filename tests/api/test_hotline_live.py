"""The hotline end to end in virtual time: a real server, officials' own signed statements,
WebSocket delivery, escalation on both ladders, the record and its timeline."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detente.api.app import create_app
from detente.cli.client import ServiceClient
from detente.errors import ConflictingWriteError, InputError
from detente.ledger.keys import generate_private_key
from detente.service.clock import ManualClock
from detente.service.config import parse_config
from tests.live_server import collect, public_b64, serve

ROOT = Path(__file__).resolve().parents[2]
OFFICIALS = [f"{p}-{n}" for p in "TR" for n in (1, 2, 3)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hot")
    keys = {name: generate_private_key() for name in ["T", "R", *OFFICIALS]}
    cfg = parse_config({
        "region": {"name": "hot", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.05, "log_key": str(tmp / "log.pem")},
        "parties": [{
            "id": p, "public_keys": [public_b64(keys[p])],
            "officials": [{"id": f"{p}-{n}", "name": f"{p} level {n}", "level": n,
                           "public_key": public_b64(keys[f"{p}-{n}"])} for n in (1, 2, 3)],
        } for p in "TR"],
        "agreements": [{"parties": ["T", "R"], "hotline": {"flash_s": 60, "urgent_s": 300}}],
    })
    clock = ManualClock(time.time())
    with serve(create_app(cfg, f"sqlite:///{tmp / 'd.sqlite'}", clock=clock)) as base:
        yield base, keys, clock, tmp


def client(setup, official):
    base, keys, clock, _ = setup
    return ServiceClient(base, official[0], keys[official], official=official, clock=clock.now)


async def listen(base, token, seconds, since=None):
    """The durable events only (picture frames have no seq)."""
    return [m for m in await collect(base, token, seconds, since) if m["seq"] is not None]


def wait_for(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_flash_escalates_on_both_sides_until_answered(setup):
    base, _, clock, tmp = setup
    t1, r1, r3 = client(setup, "T-1"), client(setup, "R-1"), client(setup, "R-3")
    sent = t1.send_message("R", "flash", "You are approaching Turkish airspace. Turn south.")
    m = sent["message"]
    assert (m["level"], m["sender_level"], m["state"]) == (1, 1, "sent")
    assert m["deadline"] == pytest.approx(clock.now() + 60, abs=1)
    # R's watch officer is connected: the message is pushed, and that delivery is recorded.
    events = asyncio.run(listen(base, r1.token, 0.5, since=0))
    mine = [e for e in events if e["type"] == "hotline" and e["data"]["id"] == m["id"]]
    assert [e["data"]["change"] for e in mine] == ["sent"]

    def level():
        return next(x for x in r1.messages() if x["id"] == m["id"])

    clock.advance(60)
    assert wait_for(lambda: level()["level"] == 2)
    assert level()["sender_level"] == 2 and level()["state"] == "escalated"
    clock.advance(60)
    assert wait_for(lambda: level()["level"] == 3)
    assert level()["sender_level"] == 3
    out = r3.acknowledge(m["id"], "Received. Our aircraft is over Syria.")
    assert out["message"]["state"] == "acknowledged" and out["message"]["ack"]["by"] == "R-3"
    # The sender's side sees the acknowledgement on its stream.
    t_events = asyncio.run(listen(base, t1.token, 0.5, since=0))
    changes = [e["data"]["change"] for e in t_events
               if e["type"] == "hotline" and e["data"]["id"] == m["id"]]
    assert changes == ["sent", "escalated", "escalated", "acknowledged"]
    # Resuming from any point gives exactly what followed it, once.
    seqs = [e["seq"] for e in t_events]
    assert seqs == sorted(set(seqs))
    middle = seqs[len(seqs) // 2]
    resumed = asyncio.run(listen(base, t1.token, 0.3, since=middle))
    assert [e["seq"] for e in resumed] == [s for s in seqs if s > middle]

    # The record holds every step; the timeline reads it back offline.
    export = tmp / "record.jsonl"
    export.write_bytes(t1.http.get("/v1/record/export").content)
    done = subprocess.run(
        [sys.executable, "-m", "detente", "hotline", "timeline", m["id"], "--export",
         str(export)], capture_output=True, text=True, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"message {m['id']}") and "OK:" in lines[0]
    text = "\n".join(lines[1:])
    for words in ("T/T-1 sent flash to R", "delivered to R-1 (level 1)",
                  "escalated: addressee level 2, sender level 2",
                  "escalated: addressee level 3, sender level 3",
                  "R/R-3 acknowledged: 'Received. Our aircraft is over Syria.'"):
        assert words in text, text
    done = subprocess.run([sys.executable, "-m", "detente", "verify", str(export)],
                          capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stdout.startswith("OK:"), done.stdout + done.stderr


def test_answered_message_never_escalates(setup):
    _, _, clock, _ = setup
    t2, r1 = client(setup, "T-2"), client(setup, "R-1")
    m = t2.send_message("R", "flash", "Confirm your intentions.", message_id="q-1")["message"]
    r1.acknowledge(m["id"])
    clock.advance(500)
    time.sleep(0.3)
    after = next(x for x in r1.messages() if x["id"] == m["id"])
    assert (after["state"], after["level"], after["sender_level"]) == ("acknowledged", 1, 2)
    # Sending again with the same id is idempotent: same message, no second record entry.
    again = t2.send_message("R", "flash", "Confirm your intentions.", message_id="q-1")
    assert again["receipt"] is None and again["message"]["record_index"] == m["record_index"]


def test_refusals_store_nothing(setup):
    t1, r1, r2 = client(setup, "T-1"), client(setup, "R-1"), client(setup, "R-2")
    before = len(t1.messages())
    with pytest.raises(InputError, match="unknown party"):
        t1.send_message("X", "flash", "hello")
    with pytest.raises(InputError, match=r"statement\.body\.body: .* at most 4000 characters"):
        t1.send_message("R", "flash", "x" * 4001)
    m = t1.send_message("R", "urgent", "Routine check", to_official="R-1")["message"]
    with pytest.raises(ConflictingWriteError, match="not addressed to R-2"):
        r2.acknowledge(m["id"])
    with pytest.raises(ConflictingWriteError, match="not addressed to T-1"):
        t1.acknowledge(m["id"])
    r1.acknowledge(m["id"])
    with pytest.raises(ConflictingWriteError, match="already acknowledged"):
        r1.acknowledge(m["id"])
    assert len(t1.messages()) == before + 1
    # A statement signed by someone else than the caller is refused.
    forged = r1.sign("hotline.message", {"id": "forged-1", "to_party": "T",
                                         "priority": "flash", "body": "x"})
    with pytest.raises(ConflictingWriteError, match="is not the caller"):
        t1.post("/v1/hotline/messages", forged)


def test_witnesses_cosign_and_heads_settle(setup):
    from detente.cli.client import Witness

    base, keys, clock, _ = setup
    t = ServiceClient(base, "T", keys["T"], clock=clock.now)
    r = ServiceClient(base, "R", keys["R"], clock=clock.now)
    wt, wr = Witness(t), Witness(r)
    first = wt.step()
    assert first is not None and wt.step() is None  # nothing new: nothing to sign again
    view = t.get("/v1/record/head", params={"size": first.size})
    assert view["cosigned_by"] == ["T"] and not view["settled"]
    # R registers its key (a new entry, so a new head); T follows it by a consistency proof.
    head_r = wr.step()
    assert head_r.size > first.size
    assert wt.step().size == head_r.size
    assert t.get("/v1/record/head", params={"size": head_r.size})["settled"]
