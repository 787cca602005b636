"""jobyard's benchmark suite against peer job queues (``make bench``); see bench/README.md."""
