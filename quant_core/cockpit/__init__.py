"""The Streamlit cockpit: the only importer of streamlit. It reads files, never calls the worker."""
