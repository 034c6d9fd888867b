"""dync: declarative stochastic dynamical systems, compiled to JAX."""

__version__ = "0.1.0"
