"""The store: one SQLite file or PostgreSQL database, behind plain functions taking a session.

``models``: the tables (SQLModel). ``db``: engines, sessions and the store's small helpers (IN-list chunks).
``schema``: the schema revision a store records and the upgrade rule; ``migrations``: the Alembic revisions.
``lock``: the one-holder lock (a PostgreSQL advisory lock or a file lock) that guards anchoring leadership
and store upgrades. Nothing here imports a feature package: features build on the store, never the reverse.
"""

__all__ = ["db", "lock", "models", "schema"]
