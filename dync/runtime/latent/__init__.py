"""Variational inference of latent SDE paths (``dync fit --method vi``):
encoder (:mod:`.encoder`), posterior SDE (:mod:`.posterior`), ELBO
(:mod:`.elbo`), training (:mod:`.training`), outputs (:mod:`.outputs`), the
fit (:mod:`.fit`), evaluation metrics (:mod:`.evaluate`) and the synthetic
Lorenz spiking data (:mod:`.lorenz`). See ``docs/latent.md``."""
