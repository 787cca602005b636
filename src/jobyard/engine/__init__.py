"""Background duties: reaper, releaser, pruner; each led by exactly one engine instance."""

from jobyard.engine.runner import Engine, default_duties

__all__ = ["Engine", "default_duties"]
