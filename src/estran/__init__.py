"""Estran: a joint coastal-operations centre for the Côte d'Opale."""

__all__ = ["__version__"]

__version__ = "0.1.0"
