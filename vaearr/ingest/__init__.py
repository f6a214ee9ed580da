"""Readers that turn source files (EBSD scans, tables, images, IDX, NIfTI) into vaearr stores."""
