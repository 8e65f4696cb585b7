"""The package version, in a module of its own so that no layer has to import the package root."""

__version__ = "0.2.0"
