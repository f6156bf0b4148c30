"""Estran domain."""

__all__: list[str] = []
