"""Memory: keeping the heap small and the collector out of the way."""
