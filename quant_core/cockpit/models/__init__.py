"""View models of the cockpit pages: pure data preparation, no Streamlit."""
