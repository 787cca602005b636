"""How executions run: ``python`` (in a pool child) and ``command`` (spawned per execution)."""
