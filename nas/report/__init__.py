"""Paper figures and tables, drawn from ``results/summary`` files only."""
