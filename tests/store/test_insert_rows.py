"""Multi-row INSERTs: the SQL is the one written out by hand, and every row lands, in order,
however the rows are cut into statements."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from detente.store import database
from detente.store.database import insert_rows, open_database, positional_insert


def test_the_statement_of_several_rows_in_each_parameter_style():
    assert positional_insert("t", ("a", "b"), "qmark", 2) == \
        "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
    assert positional_insert("t", ("a", "b"), "format", 1) == "INSERT INTO t (a, b) VALUES (%s, %s)"
    assert positional_insert("t", ("a", "b"), "numeric", 2) == \
        "INSERT INTO t (a, b) VALUES (:1, :2), (:3, :4)"


@pytest.mark.parametrize("per", [1, 7, 1000])
def test_every_row_lands_in_order_whatever_the_statement_size(tmp_path, monkeypatch, per):
    monkeypatch.setattr(database, "_ROWS_PER_STATEMENT", per)
    path = tmp_path / "r.sqlite"
    engine = open_database(f"sqlite:///{path}", create=False)
    rows = [(k, f"id-{k}", k / 3, b"\x00\xff" * (k % 4)) for k in range(2_503)]
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k INTEGER, name TEXT, x REAL, data BLOB)"))
        insert_rows(conn, "t", ("k", "name", "x", "data"), rows)
        insert_rows(conn, "t", ("k", "name", "x", "data"), [])
    engine.dispose()
    got = sqlite3.connect(path).execute("SELECT k, name, x, data FROM t ORDER BY rowid").fetchall()
    assert got == rows
