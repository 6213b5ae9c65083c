"""Streamlit helpers shared by ``Home.py`` and ``pages/``: page set-up, cached resources, formats, errors.

The only Streamlit-aware code outside the pages; ``core/`` and ``storage/`` never import it.
"""
