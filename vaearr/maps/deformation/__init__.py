"""Deformation from any feature map: kernel and domain spreads, pattern rotations, recrystallised regions."""
