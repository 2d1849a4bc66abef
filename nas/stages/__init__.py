"""The pipeline's stages: one config and ``run`` per numbered notebook, and the plan of a profile's runs."""
