"""Bundled model files (found with importlib.resources, never downloaded)."""
