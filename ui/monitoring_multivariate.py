"""The Monitoring page's multivariate drift: the window's verdict and its error per hour against the band."""

from __future__ import annotations

import streamlit as st

from core.monitoring.segment_charts import multivariate_figure, multivariate_text
from core.monitoring.snapshot import Snapshot
from ui.formats import plain


def multivariate_section(view: Snapshot) -> None:
    """Multivariate drift of the drift version's inputs; without a PCA on its reference, what it needs."""
    st.subheader("Multivariate drift")
    found = view.multivariate
    if found is None:
        st.info(
            f"Multivariate drift needs a reference: version {view.drift_version}'s reference data has no PCA fitted "
            "on it (none is attached, or it was attached before Loupe fitted one). Attach it again on the "
            "**Registry** page (Reference data).",
            icon="ℹ️",
        )
        return
    text = plain(multivariate_text(found, version=view.drift_version))
    (st.warning if found.drifted else st.markdown)(text)
    st.caption(
        "A PCA fitted on the reference keeps the directions its features vary along together; inputs whose "
        "features no longer go together (each one alone unchanged) are reconstructed worse, so the mean error "
        "leaves the band."
    )
    st.plotly_chart(multivariate_figure(found, view.multivariate_by_hour), key="monitoring_multivariate_chart")
