"""The Strategy Explorer page."""

import streamlit as st

st.title("Strategy Explorer")
