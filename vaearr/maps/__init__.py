"""Map science that needs no model or run: ROI masks, orientations, indexing, boundaries, decompositions, composites."""
