"""Segmentation of any feature map into grains and sub-grains, decided in degrees, and the ``segment`` command."""
