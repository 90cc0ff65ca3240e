"""Tables of the cockpit pages (display frames from view models), no Streamlit."""
