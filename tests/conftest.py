"""Fixtures for every test: a real PostgreSQL beside SQLite (tests/postgres.py)."""

pytest_plugins = ["tests.postgres"]
