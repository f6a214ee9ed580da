"""``python -m vaearr`` runs the command line."""

from vaearr.cli import main

main()
