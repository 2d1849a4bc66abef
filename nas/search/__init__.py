"""The search: config and profiles, penalties, generators, the step, the loop and run folders.

``config`` (``SearchConfig``, profiles), ``penalties`` (objectives by name), ``generators``
(G(lam_norm, phi) families and plain alpha), ``step`` (the architecture and weight steps),
``loop`` (epochs per phase, ``run_search``), ``run_io`` (the only reader and writer of run
folders), ``data`` (in-memory search data), ``isolation`` (no benchmark during a search),
``bench`` (speed of the step).
"""
