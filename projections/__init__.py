"""Read models built from the event store by the worker."""
