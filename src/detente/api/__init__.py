"""The HTTP and WebSocket edge (FastAPI): parse, authenticate, map errors to RFC 9457."""
