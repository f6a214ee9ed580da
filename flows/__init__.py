"""Prefect flows over the vaearr library (``python flows/serve.py`` serves their deployments)."""
