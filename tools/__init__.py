"""Scripts that maintain generated files of the repository (``python -m tools.stubs``)."""
