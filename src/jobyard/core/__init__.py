"""Pure core: states, models, errors, policies and settings. Imports nothing else of jobyard."""
