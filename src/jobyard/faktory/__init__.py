"""The Faktory wire-protocol listener: Faktory clients push, fetch, ack, fail and beat.

A peer of ``api/``: it imports core and store, never api, worker or engine. ``protocol`` is the
framing and handshake, ``payload`` maps Faktory's job JSON to jobyard's jobs, ``service`` runs
each command against the store, ``server`` is the asyncio listener.
"""

from jobyard.faktory.server import FaktoryServer
from jobyard.faktory.service import Faktory, FaktoryConfig

__all__ = ["Faktory", "FaktoryConfig", "FaktoryServer"]
