"""The sum columns every rollup, delta and report row shares, in order: a module of its own so a
report reading sums imports nothing else of the projections."""

# Column order of every delta and of the sum columns in the read model.
SUM_COLUMNS = (
    "entries",
    "input",
    "output",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "cost_calculated",
    "cost_auto",
    "cost_display",
    "unpriced",
)

# Entries per quarter of an hour row: which quarter a model was first seen in (a report orders
# models by first use) survives the hour's aggregation, and stays additive.
QUARTER_COLUMNS = ("q0", "q1", "q2", "q3")
