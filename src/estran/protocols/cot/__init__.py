"""Cursor-on-Target: the XML event, TAK Protocol version 1 (protobuf), stream framing."""
