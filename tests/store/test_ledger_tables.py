from sqlalchemy import text

from detente.store.database import open_database
from detente.store.ledger_tables import LedgerStore, _nodes_query


def test_node_lookups_use_the_primary_key(tmp_path):
    # O(log n) proofs need O(log n) index searches, not a scan of the nodes table.
    engine = open_database(f"sqlite:///{tmp_path / 'plan.sqlite'}")
    LedgerStore(engine)
    query, params = _nodes_query([(0, 5), (3, 1), (19, 0)])
    with engine.connect() as conn:
        plan = [row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {query.text}"), params)]
    assert plan, "no query plan"
    assert not any(step.startswith("SCAN") for step in plan), plan
    assert sum("USING PRIMARY KEY" in step for step in plan) == 3, plan


def test_node_lookups_use_the_primary_key_on_postgresql(postgres_url):
    engine = open_database(postgres_url)
    LedgerStore(engine)
    query, params = _nodes_query([(0, 5), (3, 1), (19, 0)])
    with engine.connect() as conn:
        # A table this small is scanned whatever its indexes unless scans are ruled out: with
        # them ruled out, a plan that still scans the table would have no index to use.
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {query.text}"), params))
    assert "Seq Scan" not in plan, plan
    assert plan.count("Index Cond") == 3 or plan.count("ledger_nodes_pkey") >= 3, plan


def test_missing_nodes_are_a_store_error(database_url):
    import pytest

    from detente.errors import StoreError

    store = LedgerStore(open_database(database_url))
    with pytest.raises(StoreError, match="missing"):
        store.nodes([(0, 0)])
