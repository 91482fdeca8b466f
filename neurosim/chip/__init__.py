"""The chip: weights held on non-volatile devices, their wear, and the per-event cost model."""
