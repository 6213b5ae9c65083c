"""How the Registry page shows its versions table: the version and its aliases pinned to the left."""

from __future__ import annotations

from typing import Any

import streamlit as st


def versions_column_config() -> dict[str, Any]:
    """Pin ``version`` and ``aliases``: scrolling the metrics sideways at 1280 px keeps the badges in sight."""
    return {
        "version": st.column_config.NumberColumn("version", pinned=True, width="small"),
        "aliases": st.column_config.TextColumn(
            "aliases", pinned=True, width="medium", help="champion, challenger and other aliases"
        ),
    }
