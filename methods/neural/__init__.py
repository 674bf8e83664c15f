"""Differentiable (torch) predictors sharing one training loop: GCN, GIN, Transformer, AP.

Every one of them trains on any registered loss (``nasbench_harness.losses``) through
``training.NeuralPredictor`` (the one training loop, ``training.train``) and scores large
sets in chunks.
"""
