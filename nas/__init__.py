"""Hardware-aware differentiable NAS with trade-off control (DARTS-CC x FBNet).

Importing the package has no side effects: no threads, seeds, devices or files are touched.
"""

__version__ = "0.1.0"
