"""The run form's widget for one config key (a select or a number input), shared by its parts."""

from __future__ import annotations

import streamlit as st

from quant_core.cockpit.models import policy_form


def config_widget(field: policy_form.ConfigField) -> None:
    """Render config key ``field`` as a select (a choice) or a number input, its help the schema's.

    No bounds on the number inputs: the config schema judges every value and names the key (a
    number input would silently put an out-of-range value back to its default).
    """
    spec = field.spec
    if spec.kind == "choice":
        options = list(spec.options)
        index = options.index(spec.default) if spec.default in options else 0
        st.selectbox(field.label, options, index=index, key=field.key, help=spec.help)
        return
    st.number_input(
        field.label,
        value=spec.default,
        step=field.step,
        format=field.number_format,
        key=field.key,
        help=spec.help,
        placeholder=field.placeholder or None,
    )
