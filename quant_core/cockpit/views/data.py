"""The Data page."""

import streamlit as st

st.title("Data")
