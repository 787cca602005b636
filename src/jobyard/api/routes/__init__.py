"""Native routes, one module per subject."""
