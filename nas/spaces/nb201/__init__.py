"""NAS-Bench-201: the space behind the protocol (``space.NB201``), genotypes, the cell and skeleton, and the
benchmark (evaluation only)."""
