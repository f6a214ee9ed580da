"""Where to look: ROI masks, pattern quality (IQ, ADP), neighbour averaging and the training window."""
