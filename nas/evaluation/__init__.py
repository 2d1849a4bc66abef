"""Evaluation against benchmark ground truth: regret, comparison, summaries (never imported by a search)."""
