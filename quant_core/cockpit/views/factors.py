"""The Factors page."""

import streamlit as st

st.title("Factors")
