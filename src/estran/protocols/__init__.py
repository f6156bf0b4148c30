"""Wire protocols, pure: fed bytes, return bytes and typed messages."""
