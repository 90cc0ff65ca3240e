"""A picker of one row of a listing (latest first) whose pick outlives a run it is not drawn in.

Streamlit forgets a widget's value when a run does not draw it: the Sweeps page draws either its
sweeps part or its walk-forward part, so each part's picker keeps its pick under a second,
plain session key (``kept_key``) and picks it again when it is drawn anew.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st


def pick_row(
    frame: pd.DataFrame,
    id_column: str,
    label: str,
    *,
    key: str,
    kept_key: str,
    describe: Callable[[dict[str, Any]], str],
    help_text: str,
) -> dict[str, Any]:
    """Draw a select box over ``frame``'s rows (by ``id_column``); return the row picked.

    The options are the rows' ids in ``frame``'s order, shown by ``describe(row)``. None picked
    yet, or the pick no longer listed: the one kept under ``kept_key``, else the first row.
    """
    rows: dict[str, dict[str, Any]] = {
        str(r[id_column]): {str(k): v for k, v in r.items()} for r in frame.to_dict("records")
    }
    ids = list(rows)
    if st.session_state.get(key) not in ids:
        # None picked yet, or the picker was not drawn (the page's other part): the one kept,
        # else the latest.
        kept = st.session_state.get(kept_key)
        st.session_state[key] = kept if kept in ids else ids[0]
    picked = st.selectbox(
        label, ids, key=key, format_func=lambda i: describe(rows[i]), help=help_text
    )
    st.session_state[kept_key] = picked  # not a widget's: outlives a run that does not draw it
    return rows[str(picked)]


__all__ = ["pick_row"]
