"""Multiplexed gradient descent: perturbations, the gradient estimate, and the optimizers that use it."""
