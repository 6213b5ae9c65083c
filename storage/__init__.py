"""Loupe's persistence: SQLAlchemy models and repositories. Repositories take a Session and never commit."""
