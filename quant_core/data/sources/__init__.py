"""Bar sources. Each returns raw rows that the same validation and warehouse then take.

``sample`` (bundled real data), ``csv`` (user files) and ``synthetic`` (seeded generator) live
here; the Interactive Brokers history source implements :class:`BarSource` in
``quant_core.ib`` and is wired in by the entry point, so ``data`` never imports the IB client.
"""

from quant_core.data.sources.base import BarSource, SourceBatch

__all__ = ["BarSource", "SourceBatch"]
