"""Multi-row INSERTs: the SQL is the one written out by hand, and every row lands, in order,
however the rows are cut into statements."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from detente.store import database
from detente.store.database import insert_rows, open_database, positional_insert
from tests.postgres import raw_rows


def test_the_statement_of_several_rows_in_each_parameter_style():
    assert positional_insert("t", ("a", "b"), "qmark", 2) == \
        "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
    assert positional_insert("t", ("a", "b"), "format", 1) == "INSERT INTO t (a, b) VALUES (%s, %s)"
    assert positional_insert("t", ("a", "b"), "numeric", 2) == \
        "INSERT INTO t (a, b) VALUES (:1, :2), (:3, :4)"


@pytest.mark.parametrize("per", [1, 7, 1000])
def test_every_row_lands_in_order_whatever_the_statement_size(database_url, monkeypatch, per):
    monkeypatch.setattr(database, "_ROWS_PER_STATEMENT", per)
    engine = open_database(database_url, create=False)
    rows = [(k, f"id-{k}", k / 3, b"\x00\xff" * (k % 4)) for k in range(2_503)]
    blob, real = ("BLOB", "REAL") if database_url.startswith("sqlite") else ("BYTEA",
                                                                              "DOUBLE PRECISION")
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE t (n SERIAL PRIMARY KEY, k INTEGER, name TEXT, "
                          f"x {real}, data {blob})" if blob == "BYTEA" else
                          f"CREATE TABLE t (n INTEGER PRIMARY KEY, k INTEGER, name TEXT, "
                          f"x {real}, data {blob})"))
        insert_rows(conn, "t", ("k", "name", "x", "data"), rows)
        insert_rows(conn, "t", ("k", "name", "x", "data"), [])
    engine.dispose()
    got = raw_rows(database_url, "SELECT k, name, x, data FROM t ORDER BY n")
    assert [(k, n, x, bytes(d)) for k, n, x, d in got] == rows


def test_a_statement_stays_under_postgresqls_parameter_limit(postgres_url):
    # 65,535 bound parameters at most in one statement: 1,000 rows of 70 columns would be
    # 70,000; insert_rows cuts them into statements of 936 rows.
    engine = open_database(postgres_url, create=False)
    columns = tuple(f"c{k}" for k in range(70))
    rows = [tuple(range(r, r + 70)) for r in range(1_000)]
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE w ({', '.join(c + ' INTEGER' for c in columns)})"))
        insert_rows(conn, "w", columns, rows)
    engine.dispose()
    assert raw_rows(postgres_url, "SELECT * FROM w ORDER BY c0") == rows
