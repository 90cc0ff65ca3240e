"""The cockpit's entry: page config, the optional password gate and the navigation.

``app.py`` at the project root calls :func:`main`. The pages are files under ``views/`` (not
``pages/``: Streamlit would also list a ``pages/`` folder by its file names).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from quant_core.cockpit import context
from quant_core.cockpit.auth import admitted, require_password

VIEWS = Path(__file__).resolve().parent / "views"
PAGES = {  # file -> (title, url path, icon)
    "explorer.py": ("Strategy Explorer", "explorer", ":material/query_stats:"),
    "sweeps.py": ("Sweeps", "sweeps", ":material/grid_on:"),
    "factors.py": ("Factors", "factors", ":material/functions:"),
    "data.py": ("Data", "data", ":material/database:"),
    "live.py": ("Live Dashboard", "live", ":material/monitor_heart:"),
}


def main() -> None:
    """Render the cockpit: one page chosen in the sidebar."""
    # An emoji icon: a material one makes the browser fetch it from fonts.gstatic.com.
    st.set_page_config(page_title="quant cockpit", page_icon="📈", layout="wide")
    cfg = context.config()
    pages = [
        st.Page(VIEWS / name, title=title, url_path=url, icon=icon, default=name == "explorer.py")
        for name, (title, url, icon) in PAGES.items()
    ]
    # The pages are registered before the gate, so a deep link (/live) survives signing in;
    # the menu stays hidden until then, and no page runs.
    navigation = st.navigation(pages, position="sidebar" if admitted(cfg) else "hidden")
    require_password(cfg)
    navigation.run()
