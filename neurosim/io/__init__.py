"""Run files: what a run leaves behind, written atomically."""
