"""Per-party streams: sequence numbers per party that continue across a restart, the text a
client is sent equal to what the store keeps, and a backlog that gives exactly what came after
a sequence number. Oracle: the events table read with the database's own driver, and
json.loads. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json

from detente.service.events import EventBus
from detente.store import recording as rec
from detente.store.database import open_database
from tests.postgres import raw_rows


def test_streams_number_per_party_store_what_they_send_and_resume(database_url):
    alert = {"id": "x1", "kind": "tactical", "t_to_go_s": 61.5, "name": "Ç-2"}

    async def first():
        engine = open_database(database_url)
        recorder = rec.Recorder(engine)
        bus = EventBus(engine, recorder)
        sub_a, _ = await bus.subscribe("A", None, None)
        sub_b, _ = await bus.subscribe("B", "b-watch", None)
        await bus.publish([("A", "alert", alert), ("B", "alert", alert),
                           ("A", "hotline", {"id": "m1"})], now=100.0)
        got = [sub_a.queue.get_nowait() for _ in range(2)] + [sub_b.queue.get_nowait()]
        recorder.close()
        return got

    sent_a1, sent_a2, sent_b = asyncio.run(first())
    assert [json.loads(m["text"]) for m in (sent_a1, sent_a2, sent_b)] == [
        {"seq": 1, "type": "alert", "data": alert}, {"seq": 2, "type": "hotline",
                                                     "data": {"id": "m1"}},
        {"seq": 1, "type": "alert", "data": alert}]
    stored = raw_rows(database_url, "SELECT party, seq, t, type, body FROM events ORDER BY rowid")
    assert [(p, s, t, k, json.loads(b)) for p, s, t, k, b in stored] == [
        ("A", 1, 100.0, "alert", alert), ("B", 1, 100.0, "alert", alert),
        ("A", 2, 100.0, "hotline", {"id": "m1"})]
    # What a client is sent is what the store keeps, in the same words.
    assert sent_a1["text"].endswith(f',"data":{stored[0][4]}}}')

    async def second():
        engine = open_database(database_url)
        recorder = rec.Recorder(engine)
        bus = EventBus(engine, recorder)  # a restart: numbering goes on from the store
        sub, missed = await bus.subscribe("A", None, 1)
        await bus.publish([("A", "tree_head", {"size": 3})], now=101.0)
        live = sub.queue.get_nowait()
        recorder.close()
        return missed, live, bus.current_seq("A"), bus.current_seq("B")

    missed, live, seq_a, seq_b = asyncio.run(second())
    assert missed == [{"seq": 2, "type": "hotline", "data": {"id": "m1"}}]
    assert json.loads(live["text"]) == {"seq": 3, "type": "tree_head", "data": {"size": 3}}
    assert (seq_a, seq_b) == (3, 1)
