"""Estran adapters/storage."""

__all__: list[str] = []
