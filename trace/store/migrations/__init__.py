"""Alembic revisions of the store's schema, applied by ``cradletrace.store.schema``.

Written by hand, one file per released schema change, so an operator's store moves from any
released cradletrace to this one with ``cradletrace db upgrade``. Each revision must run on
SQLite and PostgreSQL; tests/store/test_migrations.py checks that head equals ``SQLModel.metadata``.
"""
