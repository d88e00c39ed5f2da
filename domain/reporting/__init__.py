"""Report calculations (pure, no I/O): fact records folded from events, and the figures computed from them."""
