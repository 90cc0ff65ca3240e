"""The backtest: the engine's date loop, metrics, the benchmark and stored results."""
