"""Trade analytics shared by the backtest and the live journal (pure: no I/O, no clock).

:mod:`quant_core.analytics.round_trips` turns fills into round trips (flat to flat, per symbol);
:mod:`quant_core.analytics.trade_stats` summarises them (win rate, profit factor, R-multiples)
and gives the gain and loss per symbol.
"""
