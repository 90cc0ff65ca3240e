"""The Live Dashboard page."""

import streamlit as st

st.title("Live Dashboard")
