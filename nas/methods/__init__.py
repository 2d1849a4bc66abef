"""The compared methods (ours and the baselines) and how each answers a budget query."""
