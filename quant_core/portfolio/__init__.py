"""Weights to shares, and the pure fill/cash kernel; shared by the backtest and the sim broker."""
