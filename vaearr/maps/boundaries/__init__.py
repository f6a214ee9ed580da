"""Boundaries of a feature map: strength, grain and low-angle boundaries, and the ``boundaries`` command."""
