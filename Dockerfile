# One image for every Airflow role and for `reform` itself. Installs exactly the lock file.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    REFORM_HOME=/data \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/reform/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY=False

WORKDIR /opt/reform
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY ingest ./ingest
COPY dags ./dags
COPY dbt_project ./dbt_project
COPY expectations ./expectations
# ensure_manifest: the dbt manifest reform_nightly's tasks are rendered from, made once here (`dbt parse`)
# instead of at every container's first DAG parse.
# /opt/airflow/logs exists in the image so that the named volume mounted there (docker-compose.yml)
# starts owned by `reform`; Docker creates a missing mount point owned by root.
RUN pip install --no-cache-dir --no-deps -e . \
    && python -c "from ingest.dbt_cosmos import ensure_manifest; ensure_manifest()" \
    && useradd --create-home --uid 50000 reform \
    && mkdir -p /data /opt/airflow/logs && chown -R reform /data /opt/airflow /opt/reform
USER reform
CMD ["reform", "--help"]
