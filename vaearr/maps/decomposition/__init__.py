"""Decompositions of the patterns (PCA, NMF, cNMF), the references they start from, composites of weights."""
