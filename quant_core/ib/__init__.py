"""Interactive Brokers: the only package that imports the IB client library."""
