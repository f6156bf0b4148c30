"""The application layer: the entry points that drive the services (the HTTP API and web
client, the live demo driver). It may use services and adapters; nothing below imports it.
"""
