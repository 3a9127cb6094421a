"""procs layer."""
