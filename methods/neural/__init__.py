"""Differentiable (torch) predictors sharing one training loop: GCN, GIN, Transformer, AP.

Every one of them trains on any registered loss (``nasbench_harness.losses``) through
``training.fit_members`` (one member or many at once, each with exactly its own numbers) and
scores large sets in chunks through ``training.predict_members_of``.
"""
