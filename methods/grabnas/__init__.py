"""GraB-NAS (meta-learned deep-kernel GP BO + D-VAE latent gradient ascent) and its baselines; see docs/GRABNAS.md."""
