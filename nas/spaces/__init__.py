"""Search spaces. ``nb201``: the NAS-Bench-201 cell and skeleton."""
