"""Superset settings for the `bi` profile of docker-compose.yml.

Register the warehouse in Superset with the SQLAlchemy URI ``duckdb:////warehouse/reform.duckdb`` and
engine parameters ``{"connect_args": {"read_only": true}}`` (Superset opens a new connection per
query, so it follows each atomic publish and never blocks the nightly build).
"""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = "sqlite:////app/superset_home/superset.db"
PREVENT_UNSAFE_DB_CONNECTIONS = False
