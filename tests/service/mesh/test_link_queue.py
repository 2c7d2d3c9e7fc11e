"""A link's queue of live frames, without a network: states not sent yet are merged with newer
ones, track by track (the newer state wins), on the same terms only; a link down queues
nothing."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.service.clock import SystemClock
from detente.service.mesh import Link, Peer


def link(up: bool = True) -> Link:
    peer = Peer("RUS", "http://127.0.0.1:1", Ed25519PrivateKey.generate().public_key())
    out = Link("TUR", Ed25519PrivateKey.generate(), peer, SystemClock(), handler=None,
               received=0, last_seq=0)
    out.transport = object() if up else None  # only whether it is up matters here
    return out


def states(rows: dict[str, float], precision_m: float = 0.0) -> dict:
    return {"party": "TUR", "precision_m": precision_m, "ids": list(rows),
            "v": [[t, 36.0, 36.0, 6000.0, 200.0, 90.0, 0.0] for t in rows.values()]}


def test_states_not_sent_yet_are_merged_track_by_track():
    q = link()
    assert q.live("states", states({"A": 1.0, "B": 1.0}))
    assert q.live("ping", {"t1": 0.0})
    assert q.live("states", states({"B": 2.0, "C": 2.0}))
    kinds = [k for k, _ in q._live]
    assert kinds == ["states", "ping"]  # one states frame, where the first was
    body = q._live[0][1]
    assert dict(zip(body["ids"], (v[0] for v in body["v"]), strict=True)) == {
        "A": 1.0, "B": 2.0, "C": 2.0}


def test_states_on_other_terms_are_not_merged():
    q = link()
    q.live("states", states({"A": 1.0}, precision_m=0.0))
    q.live("states", states({"A": 2.0}, precision_m=1000.0))
    assert [b["precision_m"] for _, b in q._live] == [0.0, 1000.0]


def test_a_link_down_queues_nothing():
    q = link(up=False)
    assert not q.live("states", states({"A": 1.0}))
    assert not q._live
