"""Alerts: one ``notify`` over apprise URLs, sent off the worker's loop (apprise only here)."""
