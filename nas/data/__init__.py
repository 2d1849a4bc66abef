"""Datasets: offline sources, verification, in-memory arrays (``python -m nas.data prepare NAME...``)."""
