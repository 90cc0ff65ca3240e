"""The one rule a symbol must follow before the system stores it or builds a name from it.

A symbol, once trimmed and upper-cased, is 1 to 15 characters: ASCII letters ``A-Z`` and digits,
in runs joined by single ``.`` or ``-`` (``AAPL``, ``BRK.B``, ``BF-B``, ``1ST``). Nothing else:
no path separator, no ``..``, no leading or trailing ``.``/``-``, no white space, quote, comma,
control or non-ASCII character. So a symbol can never name a folder outside the one it is put in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from quant_core.errors import DataError

MAX_SYMBOL_LENGTH = 15
SYMBOL_PATTERN = re.compile(r"[A-Z0-9]+(?:[.\-][A-Z0-9]+)*")
SYMBOL_RULE = (
    f"1-{MAX_SYMBOL_LENGTH} characters A-Z and 0-9, in runs joined by single '.' or '-' "
    "(e.g. BRK.B, BF-B)"
)


def is_valid_symbol(symbol: str) -> bool:
    """Return whether ``symbol`` (already trimmed and upper-cased) follows the rule."""
    return len(symbol) <= MAX_SYMBOL_LENGTH and SYMBOL_PATTERN.fullmatch(symbol) is not None


def normalize_symbol(text: str) -> str:
    """Return ``text`` trimmed and upper-cased; non-ASCII text is only trimmed.

    Upper-casing would turn some non-ASCII text into another, valid symbol (a dotless i into
    ``I``, ``"ß"`` into ``"SS"``); kept as it is, the rule refuses it.
    """
    text = text.strip()
    return text.upper() if text.isascii() else text


def invalid_symbols(symbols: Iterable[object]) -> list[str]:
    """Return the distinct entries of ``symbols`` that break the rule, sorted (as text)."""
    return sorted({str(s) for s in symbols if not (isinstance(s, str) and is_valid_symbol(s))})


def check_symbols(symbols: Iterable[object], where: str) -> None:
    """Raise ``DataError`` naming ``where`` and the symbols that break the rule, if any."""
    bad = invalid_symbols(symbols)
    if bad:
        shown = ", ".join(map(repr, bad[:5])) + (
            f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        )
        raise DataError(f"{where}: invalid symbol(s) {shown}; a symbol is {SYMBOL_RULE}")
