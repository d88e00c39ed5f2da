"""PeopleLinks domain: the event catalogue, stream state and append rules (pure, no I/O)."""
