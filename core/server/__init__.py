"""The scoring server: MLflow's scoring protocol over Loupe's serving path, every request logged.

- :mod:`~core.server.app`: the FastAPI application (``create_app``) and its routes;
- :mod:`~core.server.auth`: the bearer token that guards writes (``LOUPE_INGEST_TOKEN``).
"""
