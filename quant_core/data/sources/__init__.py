"""Bar sources. Each returns raw rows that the same validation and warehouse then take.

``sample`` (bundled real data), ``csv`` (user files) and ``synthetic`` (seeded generator) register
themselves in :data:`SOURCES` when this package is imported. The Interactive Brokers history
source implements :class:`BarSource` in ``quant_core.ib``; ``run_data_sync.py`` registers it
(importing the IB client only when asked for), so ``data`` never imports the IB client.
"""

from quant_core.data.sources import csvfiles, sample, synthetic
from quant_core.data.sources.base import SOURCES, BarSource, SourceBatch, SourceRequest

__all__ = [
    "SOURCES",
    "BarSource",
    "SourceBatch",
    "SourceRequest",
    "csvfiles",
    "sample",
    "synthetic",
]
