"""Built-in predictors and losses (registered through entry points in pyproject.toml)."""
