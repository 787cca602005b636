"""Dialects: other systems' HTTP interfaces, each a thin translation over jobyard's core."""
