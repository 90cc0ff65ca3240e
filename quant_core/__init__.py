"""quant_core: the factor trading system's library.

Library code only logs (``logging.getLogger(__name__)`` under the ``quant_core`` root); entry
points configure logging and map exceptions to exit codes through :mod:`quant_core.cli`.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
