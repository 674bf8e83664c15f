"""Classic regression predictors on any fixed-length encoding (scikit-learn, XGBoost, LightGBM).

These are the baselines of the ConvNP paper (LR, RR, MLP, RF, XGB) plus LightGBM and a
Gaussian process. Each one:

- reads the encoding it was configured with (``self.encoding``; default ``onehot``);
- standardises the targets on the training set and inverts that on prediction (features
  are standardised too for the models that are not scale-invariant);
- takes its randomness from ``self.seed`` only and pins every thread pool to
  ``self.threads`` (``n_jobs`` / ``nthread`` / ``num_threads`` and BLAS via threadpoolctl);
- with ``tune=True`` runs the paper's protocol for its baselines: 30 random-search trials
  scored by 5-fold cross-validation (negative MSE of the standardised target) on the
  TRAINING SET ONLY, then refits the best configuration on the whole training set. The
  search space of each model is its ``search_space`` class attribute, spelled out in
  each class docstring.

Tiny training sets (down to 2 points) work: tree models shrink their minimum leaf sizes,
cross-validation uses fewer folds (tuning is skipped below 4 points), and a constant target
gives a constant prediction.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import ArchSet, Predictor
from scipy.stats import loguniform, randint, uniform
from sklearn.exceptions import ConvergenceWarning

_TUNE_PARAMS = {"tune": False, "n_trials": 30, "cv_folds": 5}


class _RegressorPredictor(Predictor):
    """Shared fit/predict/tune logic; subclasses only build the estimator."""

    cost_family = "regressors"  # with `tune: true`: "tuned regressors" (harness/estimate.py)

    inputs: ClassVar[str] = "encoding"
    default_encoding: ClassVar[str] = "onehot"
    scale_features: ClassVar[bool] = True
    # Hyperparameter distributions for tune=True (keys are constructor arguments).
    search_space: ClassVar[dict[str, Any]] = {}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for key in ("n_trials", "cv_folds"):
            if int(self.params[key]) < 1:
                raise ConfigError(
                    f"Predictor '{self.name}' needs {key} >= 1, got {self.params[key]}."
                )
        self.best_params_: dict[str, Any] = {}
        self._model = None

    # -- to override ------------------------------------------------------------------
    def _estimator(self, n_train: int, **hp):
        raise NotImplementedError

    def _model_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.items() if k not in _TUNE_PARAMS}

    # -- shared -----------------------------------------------------------------------
    def _pipeline(self, n_train: int, **hp):
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler() if self.scale_features else "passthrough"
        return Pipeline([("scale", scaler), ("model", self._estimator(n_train, **hp))])

    def _features(self, archs: ArchSet) -> np.ndarray:
        X = np.asarray(archs.encoding(self.encoding), dtype=np.float64)
        if X.ndim != 2:
            raise ConfigError(
                f"Predictor '{self.name}' needs a fixed-length encoding, but '{self.encoding}' is not a matrix; "
                f"choose onehot, path, meta, graf or zc."
            )
        return X

    def fit(
        self, archs: ArchSet, y: np.ndarray, *, unlabeled: ArchSet | None = None
    ) -> None:
        from threadpoolctl import threadpool_limits

        X = self._features(archs)
        y = np.asarray(y, dtype=np.float64)
        if len(y) != len(X) or len(y) < 2:
            raise ConfigError(
                f"Predictor '{self.name}' needs at least 2 labelled architectures with one score each, "
                f"got {len(X)} architectures and {len(y)} scores."
            )
        self._mean = float(y.mean())
        self._std = float(y.std()) or 1.0
        z = (y - self._mean) / self._std
        self._constant = bool(np.ptp(y) == 0)
        if (
            self._constant
        ):  # nothing to learn; every model would predict the mean anyway
            return
        with (
            threadpool_limits(limits=max(1, int(self.threads))),
            warnings.catch_warnings(),
        ):
            # Few points: MLP iterations and GP kernel bounds "fail to converge" routinely.
            warnings.simplefilter("ignore", ConvergenceWarning)
            params = self._model_params()
            if self.params["tune"] and self.search_space and len(y) >= 4:
                params = {**params, **self._tune(X, z)}
            self.best_params_ = params
            self._model = self._pipeline(len(y), **params).fit(X, z)

    def _tune(self, X: np.ndarray, z: np.ndarray) -> dict[str, Any]:
        """Random search with k-fold CV on the training set; returns the best hyperparameters."""
        from sklearn import model_selection

        folds = int(min(self.params["cv_folds"], len(z) // 2))
        if folds < 2:
            return {}
        cv = model_selection.KFold(folds, shuffle=True, random_state=self.seed)
        n_fit = len(z) - int(np.ceil(len(z) / folds))  # smallest CV training fold
        sampler = model_selection.ParameterSampler(
            self.search_space,
            n_iter=int(self.params["n_trials"]),
            random_state=self.seed,
        )
        best, best_score = {}, -np.inf
        for trial in sampler:
            trial = {k: _plain(v) for k, v in trial.items()}
            model = self._pipeline(n_fit, **{**self._model_params(), **trial})
            scores = model_selection.cross_val_score(
                model, X, z, cv=cv, scoring="neg_mean_squared_error", error_score=np.nan
            )
            score = float(np.mean(scores))
            if np.isfinite(score) and score > best_score:  # ties keep the earlier trial
                best, best_score = trial, score
        return best

    def predict(self, archs: ArchSet) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        if not hasattr(self, "_mean"):
            raise ConfigError(
                f"Predictor '{self.name}' was asked to predict before fit(); call fit first."
            )
        if self._constant:
            return np.full(len(archs), self._mean)
        X = self._features(archs)
        with threadpool_limits(limits=max(1, int(self.threads))):
            z = np.asarray(self._model.predict(X), dtype=np.float64).ravel()
        return z * self._std + self._mean


def _plain(value):
    """numpy scalars -> Python scalars so chosen hyperparameters serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


class LinearRegressionPredictor(_RegressorPredictor):
    """Ordinary least squares (minimum-norm solution for collinear encodings); nothing to tune."""

    name = "linear"
    prior_seconds = 0.3
    description = "Linear regression (least squares) on an encoding."
    default_params: ClassVar[dict[str, Any]] = {**_TUNE_PARAMS}

    def _estimator(self, n_train: int, **hp):
        from sklearn.linear_model import LinearRegression

        return LinearRegression(**hp)


class RidgePredictor(_RegressorPredictor):
    """Ridge regression. Search space: alpha log-uniform in [1e-3, 1e3]."""

    name = "ridge"
    prior_seconds = 0.3
    description = "Ridge regression (L2-regularised least squares) on an encoding."
    default_params: ClassVar[dict[str, Any]] = {**_TUNE_PARAMS, "alpha": 1.0}
    search_space: ClassVar[dict[str, Any]] = {"alpha": loguniform(1e-3, 1e3)}

    def _estimator(self, n_train: int, **hp):
        from sklearn.linear_model import Ridge

        return Ridge(**hp)


class MLPPredictor(_RegressorPredictor):
    """scikit-learn MLPRegressor (Adam). Search space: 1-3 hidden layers of 16-256 units,
    alpha log-uniform [1e-6, 1e-1], learning_rate_init log-uniform [1e-4, 1e-2]."""

    name = "mlp"
    prior_seconds = 5.0
    description = "Multilayer perceptron regressor (scikit-learn) on an encoding."
    default_params: ClassVar[dict[str, Any]] = {
        **_TUNE_PARAMS,
        "hidden_layer_sizes": (64, 64),
        "alpha": 1e-4,
        "learning_rate_init": 1e-3,
        "max_iter": 500,
    }
    search_space: ClassVar[dict[str, Any]] = {
        "hidden_layer_sizes": [
            (w,) * d for d in (1, 2, 3) for w in (16, 32, 64, 128, 256)
        ],
        "alpha": loguniform(1e-6, 1e-1),
        "learning_rate_init": loguniform(1e-4, 1e-2),
    }

    def _estimator(self, n_train: int, **hp):
        from sklearn.neural_network import MLPRegressor

        hp["hidden_layer_sizes"] = tuple(hp["hidden_layer_sizes"])
        batch = min(32, n_train)
        return MLPRegressor(random_state=self.seed, batch_size=batch, **hp)


class RandomForestPredictor(_RegressorPredictor):
    """Random forest. Search space: n_estimators 50-500, max_depth {None, 4-20},
    min_samples_leaf 1-5, max_features {1.0, 0.5, sqrt}."""

    name = "random_forest"
    prior_seconds = 3.0
    description = "Random forest regressor (scikit-learn) on an encoding."
    scale_features = False
    default_params: ClassVar[dict[str, Any]] = {
        **_TUNE_PARAMS,
        "n_estimators": 300,
        "max_depth": None,
        "min_samples_leaf": 1,
        "max_features": 1.0,
    }
    search_space: ClassVar[dict[str, Any]] = {
        "n_estimators": randint(50, 501),
        "max_depth": [None, 4, 6, 8, 12, 16, 20],
        "min_samples_leaf": randint(1, 6),
        "max_features": [1.0, 0.5, "sqrt"],
    }

    def _estimator(self, n_train: int, **hp):
        from sklearn.ensemble import RandomForestRegressor

        hp["min_samples_leaf"] = min(int(hp["min_samples_leaf"]), max(1, n_train // 2))
        return RandomForestRegressor(
            random_state=self.seed, n_jobs=max(1, int(self.threads)), **hp
        )


class XGBoostPredictor(_RegressorPredictor):
    """Gradient-boosted trees (XGBoost, hist). Search space: n_estimators 100-1000,
    max_depth 2-10, learning_rate log-uniform [0.01, 0.3], subsample and colsample_bytree
    uniform [0.5, 1], min_child_weight log-uniform [0.1, 10], reg_lambda log-uniform [1e-3, 10]."""

    name = "xgboost"
    prior_seconds = 3.0
    description = "XGBoost gradient-boosted trees on an encoding."
    scale_features = False
    default_params: ClassVar[dict[str, Any]] = {
        **_TUNE_PARAMS,
        "n_estimators": 500,
        "max_depth": 6,
        "learning_rate": 0.05,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 1.0,
        "reg_lambda": 1.0,
    }
    search_space: ClassVar[dict[str, Any]] = {
        "n_estimators": randint(100, 1001),
        "max_depth": randint(2, 11),
        "learning_rate": loguniform(0.01, 0.3),
        "subsample": uniform(0.5, 0.5),
        "colsample_bytree": uniform(0.5, 0.5),
        "min_child_weight": loguniform(0.1, 10),
        "reg_lambda": loguniform(1e-3, 10),
    }

    def _estimator(self, n_train: int, **hp):
        from xgboost import XGBRegressor

        return XGBRegressor(
            tree_method="hist",
            random_state=self.seed,
            n_jobs=max(1, int(self.threads)),
            verbosity=0,
            **hp,
        )


class LightGBMPredictor(_RegressorPredictor):
    """LightGBM. Search space: n_estimators 100-1000, num_leaves 4-64, learning_rate
    log-uniform [0.01, 0.3], min_child_samples 1-20, subsample/colsample_bytree uniform
    [0.5, 1], reg_lambda log-uniform [1e-3, 10]."""

    name = "lightgbm"
    prior_seconds = 2.0
    description = "LightGBM gradient-boosted trees on an encoding."
    scale_features = False
    default_params: ClassVar[dict[str, Any]] = {
        **_TUNE_PARAMS,
        "n_estimators": 500,
        "num_leaves": 31,
        "learning_rate": 0.05,
        "min_child_samples": 5,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
    }
    search_space: ClassVar[dict[str, Any]] = {
        "n_estimators": randint(100, 1001),
        "num_leaves": randint(4, 65),
        "learning_rate": loguniform(0.01, 0.3),
        "min_child_samples": randint(1, 21),
        "subsample": uniform(0.5, 0.5),
        "colsample_bytree": uniform(0.5, 0.5),
        "reg_lambda": loguniform(1e-3, 10),
    }

    def _estimator(self, n_train: int, **hp):
        from lightgbm import LGBMRegressor

        # Small training sets: LightGBM's leaf/bin minimums would otherwise forbid any split.
        hp["min_child_samples"] = min(
            int(hp["min_child_samples"]), max(1, n_train // 3)
        )
        return LGBMRegressor(
            random_state=self.seed,
            n_jobs=max(1, int(self.threads)),
            subsample_freq=1,
            min_data_in_bin=1,
            min_split_gain=0.0,
            deterministic=True,
            force_col_wise=True,
            verbose=-1,
            **hp,
        )


class GaussianProcessPredictor(_RegressorPredictor):
    """Gaussian process: constant x Matern(nu) + white noise on standardised features and
    targets, kernel hyperparameters fitted by marginal likelihood. Search space (tune):
    nu in {0.5, 1.5, 2.5, inf (RBF)} and the initial length scale log-uniform [0.1, 100].
    Training sets above ``max_points`` (default 2000) are subsampled with the seed."""

    name = "gp"
    prior_seconds = 8.0
    description = "Gaussian process regressor (Matern kernel + noise) on an encoding."
    default_params: ClassVar[dict[str, Any]] = {
        **_TUNE_PARAMS,
        "nu": 2.5,
        "length_scale": 10.0,
        "n_restarts": 2,
        "max_points": 2000,
    }
    search_space: ClassVar[dict[str, Any]] = {
        "nu": [0.5, 1.5, 2.5, np.inf],
        "length_scale": loguniform(0.1, 100),
    }

    def _model_params(self) -> dict[str, Any]:
        return {k: v for k, v in super()._model_params().items() if k != "max_points"}

    def fit(
        self, archs: ArchSet, y: np.ndarray, *, unlabeled: ArchSet | None = None
    ) -> None:
        """Exact GPs cost O(n^3): above ``max_points`` fit on a seeded random subset."""
        limit = int(self.params["max_points"])
        if len(archs) > limit:
            keep = np.sort(
                np.random.default_rng(self.seed).choice(
                    len(archs), limit, replace=False
                )
            )
            archs, y = archs.subset(keep), np.asarray(y)[keep]
        super().fit(archs, y, unlabeled=unlabeled)

    def _estimator(self, n_train: int, **hp):
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=float(hp["length_scale"]),
            length_scale_bounds=(1e-2, 1e4),
            nu=float(hp["nu"]),
        ) + WhiteKernel(0.1, (1e-6, 1e1))
        return GaussianProcessRegressor(
            kernel=kernel,
            normalize_y=False,  # targets are already standardised by the base class
            n_restarts_optimizer=int(hp["n_restarts"]),
            random_state=self.seed,
        )
