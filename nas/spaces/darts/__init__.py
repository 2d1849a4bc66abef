"""The DARTS cell space (normal and reduction cells, 8 ops, 28 edges); see ``space``."""
