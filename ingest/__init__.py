"""reform-monitor: the data backbone of the industrial-workforce reform's monitoring system.

Everything that touches a file before the lake lives here, plus the build/publish step and the
``reform`` command. Modules:

- :mod:`ingest.config`      where every data location lives (one root: ``REFORM_HOME``)
- :mod:`ingest.normalize`   pure parsing of numbers, statuses, units and periods
- :mod:`ingest.readers`     one reader per file format → rows of strings with their origin
- :mod:`ingest.reference`   the reference data (dbt seeds) ingest checks rows against
- :mod:`ingest.submissions` unit submissions: reader rows → canonical rows or quarantine records
- :mod:`ingest.lake`        the append-only lake (Parquet + audit records); the only module that knows its layout
- :mod:`ingest.warehouse`   build a warehouse file from the lake with dbt, validate, publish, roll back
- :mod:`ingest.validation`  Great Expectations suites and checkpoints
- :mod:`ingest.generate`    deterministic synthetic data in the real input formats
- :mod:`ingest.cli`         the ``reform`` command
"""

__version__ = "0.1.0"
