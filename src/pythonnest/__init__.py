"""PythonNest: a PyPI mirror and private package index for offline networks."""

__version__ = "0.1.0"
