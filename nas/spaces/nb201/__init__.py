"""NAS-Bench-201: genotypes, the cell and skeleton, and the benchmark (evaluation only)."""
