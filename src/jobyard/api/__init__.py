"""The HTTP API: native routes under /api/v1, server-sent events, auth, and dialects."""
