# Superset for the `bi` profile of docker-compose.yml: a BI client of the published DuckDB warehouse.
# Superset's [duckdb] extra pins duckdb<2, so it is left out; rich and cachetools are imported but not
# declared; Flask-Caching >= 2.5 breaks its cache (see ../shared/STACK-NOTES.md).
FROM python:3.11-slim
RUN pip install --no-cache-dir apache-superset==6.1.0 duckdb-engine duckdb==2.0.0 "flask-caching<2.5" rich cachetools \
    && mkdir -p /app/superset_home
WORKDIR /app
