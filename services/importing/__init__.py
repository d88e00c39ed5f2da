"""Importing other case-management systems' exports: mapping (pure), source files, the plan (pure), the run."""
