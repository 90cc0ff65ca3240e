"""Parameter sweeps and walk-forward over many backtests on a Dask cluster (``--sweep``)."""
