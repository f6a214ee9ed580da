"""Crystal orientations: indexing the patterns, orientation maps (IPF, KAM, GROD) and grains from orientations."""
