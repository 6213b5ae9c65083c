import pytest
import streamlit as st


@pytest.fixture(autouse=True)
def clear_streamlit_caches():
    # st.cache_resource survives across AppTest instances in one process.
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()
