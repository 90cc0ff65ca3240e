"""Factor research: labels, fitting with bootstrap, validation, the walk-forward composite.

Pure modules (no I/O, no clock): ``spec``, ``labels``, ``design``, ``splits``, ``estimators``,
``model``, ``validate``, ``ensemble``, ``pipeline``, ``targets``. ``store`` is the one that
reads and writes (stored models under ``<data_dir>/models/``, the composite in the warehouse).
"""
