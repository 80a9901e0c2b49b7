"""The fleet's store: SQLAlchemy 2 tables, engine/session factory and Alembic migrations.

Store functions elsewhere in `fleet/` take a Session and know nothing of HTTP or CoAP."""
