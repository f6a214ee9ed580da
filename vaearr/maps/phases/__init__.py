"""Phases found in the data, no crystallography: pattern features, the lattice-scale fit, the ``phases`` command."""
