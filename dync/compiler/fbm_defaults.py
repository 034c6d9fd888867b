"""Defaults of the fractional-noise lowering, shared by the compiler (which
sizes the hidden Ornstein-Uhlenbeck state) and the runtime (which computes the
weights). Kept free of JAX so the compiler can import it."""

#: Ornstein-Uhlenbeck processes per fractional Brownian motion.
DEFAULT_NUM_OU = 10
