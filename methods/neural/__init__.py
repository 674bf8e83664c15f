"""Differentiable (torch) predictors sharing one training loop: GCN, GIN, Transformer, AP.

Every one of them trains on any registered loss (``nasbench_harness.losses``) through
``training.train_model`` and scores large sets in chunks through ``training.predict_batched``.
"""
