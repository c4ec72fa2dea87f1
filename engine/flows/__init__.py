"""Flow analytics: flow definitions, key functions, filters, caches, thresholds, events."""
