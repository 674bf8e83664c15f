"""Search strategies for the ``search`` protocol (and the ``select`` protocol's baselines).

Registered under the entry-point group ``nasbench_harness.strategies`` (built-ins in this
project's pyproject.toml, like any plugin); see ``base.Strategy`` for what one declares.
"""

from __future__ import annotations

from nasbench_harness.errors import ConfigError


def strategy_class(name: str):
    """The registered Strategy class ``name`` (RegistryError with a did-you-mean when unknown)."""
    from nasbench_harness import registry
    from nasbench_harness.methods.strategies.base import Strategy

    cls = registry.load("strategies", name)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(f"The strategy plugin '{name}' is not a subclass of nasbench_harness.methods.strategies.base.Strategy; fix that package.")
    return cls


def make_strategy(name: str, params: dict):
    """An instance of strategy ``name`` with ``params`` (ConfigError for unknown or bad params)."""
    return strategy_class(name)(**params)
