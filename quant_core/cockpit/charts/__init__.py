"""Chart builders of the cockpit pages (plotly figures from view models), no Streamlit."""
