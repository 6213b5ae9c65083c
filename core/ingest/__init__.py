"""Predictions made elsewhere: a team's own serving sends Loupe what it predicted (file or HTTP).

- :mod:`~core.ingest.columns`: the canonical columns, the file/body errors;
- :mod:`~core.ingest.version_spec`: what a version's rows must look like (task, inputs, classes), from the registry;
- :mod:`~core.ingest.rows`: one chunk of rows checked into log rows and rejections (row, field, rule);
- :mod:`~core.ingest.readers`: CSV, Parquet and JSON lines read in chunks (memory flat in the file's size);
- :mod:`~core.ingest.service`: chunks checked and stored, one transaction each, idempotent on the client's id.
"""
