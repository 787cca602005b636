"""The ``jobyard`` command."""
