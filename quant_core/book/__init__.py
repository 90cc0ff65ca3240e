"""Books: several sleeves in one account (sleeves, allocation, netting, attribution)."""
