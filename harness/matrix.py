"""Experiment matrices (YAML) and the cells they expand into.

A matrix document::

    name: smoke
    description: one line
    protocol: predict                      # default predict
    protocol_params: {eval_set: space}     # passed to the protocol
    tasks: [nbgraph/cora, nbgraph/citeseer]
    methods:                               # a name, or a mapping
      - ridge
      - {predictor: xgboost, params: {n_estimators: 100}, encoding: path}
      - {predictor: gcn, loss: hr, loss_params: {margin: 0.1}}
      - {predictor: none, label: RS}       # only where the protocol needs no predictor
    budgets: [0.01, 100]                   # float < 1 = fraction of the task, int = count
    seeds: 3                               # an int n = seeds 0..n-1, or a list
    blocks:                                # optional sub-matrices: each overrides any of
      - {tasks: [nb201/cifar10], budgets: [0.001]}   # the top-level fields above
    include: [extra.yaml]                  # other matrix files (relative), appended
    include_if_present: [extra.yaml]       # the same, skipped when the file is absent
    include: [{matrix: paper-losses, set: [seeds=10], filter: [budget=0.01]}]
                                           # a built-in matrix by name (a study's, in studies/),
                                           # with its own --set overrides and --filter

``predictor: none`` (no params, encoding or loss) is for protocol params that need no
predictor (the ``select`` protocol's ``random`` and ``evolution`` strategies): a protocol
module says so with ``predictor_free_label(params) -> label | None``. Where it returns a
label, ``none`` is required (a named predictor would be ignored) and the label is the
method's default; elsewhere ``none`` is an error.

Without ``blocks`` the top level is the one block. Every error names the file, the path in
the document and what was expected. Cells (``cell.py``) carry everything that changes a
result; their run key adds the digests of the data they read and the code they run
(``provenance.py``).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from nasbench_harness import yaml_input
from nasbench_harness.cell import NO_PREDICTOR, Cell, astuple_shallow, budget_value, canonical_json, method_label  # noqa: F401 - re-exported
from nasbench_harness.errors import ConfigError, HarnessError, did_you_mean

BLOCK_KEYS = {"protocol", "protocol_params", "tasks", "methods", "budgets", "seeds"}
TOP_KEYS = BLOCK_KEYS | {"name", "description", "blocks", "include", "include_if_present"}
METHOD_KEYS = {"predictor", "params", "encoding", "loss", "loss_params", "label"}
MAX_MATRIX_BYTES = 1_000_000  # a matrix file; the bigger built-ins are a few kB
MAX_SEED = 2**31 - 1  # seeds feed torch/numpy/xgboost generators and an int64 column
MAX_SEEDS = 10_000  # `seeds: N` (a list may hold at most as many)
MAX_CELLS = 1_000_000  # one matrix; `full` has ~23,000


# -- finding and loading matrices ---------------------------------------------------------
def builtin_matrices() -> dict[str, Path]:
    """Matrices by name: the ``*.yaml`` files of the folders registered under ``nasbench_harness.matrices``
    and every registered study's matrices (``studies/``)."""
    found: dict[str, Path] = {}
    for entry, path in matrix_files():
        if path.stem in found:
            raise ConfigError(f"The matrix name '{path.stem}' is provided twice ({found[path.stem]} and {path} of package {entry.dist}); rename one.")
        found[path.stem] = path
    return found


def matrix_files() -> list:
    """Every named matrix file with the registry entry that provides it (``[(PluginInfo, Path)]``)."""
    from nasbench_harness import registry
    from nasbench_harness.studies import matrix_files as study_matrices

    return [*registry.yaml_files("matrices"), *study_matrices()]


def find_matrix(name_or_path: str | Path) -> Path:
    """A matrix by built-in name (tasks/matrices/<name>.yaml, a study's matrix) or by file path."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    known = builtin_matrices()
    if str(name_or_path) in known:  # a name wins over a same-named folder (e.g. results dir)
        return known[str(name_or_path)]
    if p.suffix in (".yaml", ".yml") or p.exists():
        raise ConfigError(f"The matrix file {p} does not exist or is not a file; give an existing YAML file or a built-in matrix name.")
    raise ConfigError(
        f"Unknown matrix '{name_or_path}'; `nasbench-harness list matrices` shows the built-in ones, "
        f"or give a path to a YAML file.{did_you_mean(str(name_or_path), known)}"
    )


ABSENT = "absent"


def file_digest(path: Path) -> str:
    """sha256 of a matrix file's bytes, or ``ABSENT``: what a cached plan is checked against
    (read as a matrix is: a FIFO, a device or an oversized file is never read, and is not the file planned)."""
    try:
        return hashlib.sha256(read_matrix_bytes(Path(path))).hexdigest()
    except ConfigError:
        return ABSENT


_READ: dict[tuple, bytes] = {}  # file version (device, inode, size, times) -> bytes: each version is read once
_READ_KEEP = 32


def _version(st: os.stat_result) -> tuple:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_matrix_bytes(path: Path) -> bytes:
    """The bytes of a matrix file, checked before any is read: a regular file (a FIFO or a
    device such as /dev/zero is refused, never read) of at most MAX_MATRIX_BYTES. Each version
    of a file is read once per process (the plan cache's key and the expansion share it)."""
    try:
        known = _READ.get(_version(os.stat(path)))
        if known is not None:
            return known
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO must not wait for a writer
    except OSError as exc:
        raise ConfigError(f"Could not read the matrix {path} ({exc.strerror}); check the path.") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"The matrix {path} is not a regular file; give a YAML matrix file.")
        if st.st_size > MAX_MATRIX_BYTES:
            raise ConfigError(f"The matrix {path} is larger than {MAX_MATRIX_BYTES // 1000} kB; a matrix is a short YAML file, split it with include:.")
        while len(_READ) >= _READ_KEEP:
            _READ.pop(next(iter(_READ)))
        _READ[_version(st)] = data = f.read(MAX_MATRIX_BYTES + 1)[:MAX_MATRIX_BYTES]
        return data


def parse_matrix(path: Path, raw: bytes):
    """The YAML document in a matrix file's bytes (bounded: yaml_input.py), or one located sentence."""
    try:
        return yaml_input.load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"The matrix {path} is not a UTF-8 text file; give a YAML matrix file.") from None
    except yaml_input.YAMLLimitError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"The matrix {path}{where} {exc.reason}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = re.sub(r"'.*?'|\".*?\"", "...", str(getattr(exc, "problem", None) or "invalid syntax"))[:80]  # never echo the file's text
        raise ConfigError(f"The matrix {path} is not valid YAML{where} ({problem}); fix the syntax there.") from None


def _load_yaml(path: Path) -> dict:
    doc = parse_matrix(path, read_matrix_bytes(path))
    if not isinstance(doc, dict):
        raise ConfigError(f"The matrix {path} must be a YAML mapping with keys such as tasks, methods, budgets, seeds; it is {type(doc).__name__}.")
    return doc


def set_override(doc: dict, assignment: str) -> None:
    """Apply one ``--set key.path=value`` (value parsed as YAML data, never evaluated)."""
    if "=" not in assignment:
        raise ConfigError(f"The override '{assignment}' must look like key=value (e.g. seeds=[0,1] or protocol_params.eval_set=space).")
    path, raw = assignment.split("=", 1)
    keys = [k for k in path.strip().split(".") if k]
    if not keys:
        raise ConfigError(f"The override '{assignment}' has an empty key; use e.g. seeds=[0,1].")
    settable = BLOCK_KEYS | {"name", "description"}
    if keys[0] not in settable:
        raise ConfigError(
            f"The override key '{keys[0]}' is not a matrix field; expected one of {sorted(settable)}."
            f"{did_you_mean(keys[0], settable)}"
        )
    try:
        value = yaml_input.load(raw) if raw.strip() else ""
    except yaml_input.YAMLLimitError as exc:
        raise ConfigError(f"The value of the override '{path.strip()[:80]}' {exc.reason.replace('a matrix', 'a matrix value')}.") from None
    except yaml.YAMLError:
        value = raw
    target = doc
    for k in keys[:-1]:
        if not isinstance(target.get(k), dict):
            target[k] = {}
        target = target[k]
    target[keys[-1]] = value


# -- validation helpers -------------------------------------------------------------------
class _Where:
    """Formats 'file: path' locations for messages."""

    def __init__(self, file: Path, path: str = "") -> None:
        self.file, self.path = file, path

    def __truediv__(self, part) -> _Where:
        sep = "" if isinstance(part, int) or not self.path else "."
        return _Where(self.file, f"{self.path}{sep}{f'[{part}]' if isinstance(part, int) else part}")

    def fail(self, expected: str) -> ConfigError:
        return ConfigError(f"In {self.file} at {self.path or 'the top level'}: {expected}")


def _check_keys(d: dict, allowed: set[str], where: _Where) -> None:
    for k in d:
        if k not in allowed:
            raise where.fail(f"unknown key '{k}'; expected one of {sorted(allowed)}.{did_you_mean(str(k), allowed)}")


def _list_of(value, where: _Where, what: str) -> list:
    if isinstance(value, (str, int, float, dict)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise where.fail(f"expected a non-empty list of {what}.")
    return value


def _budgets(value, where: _Where, minimum: int = 2) -> list[int | float]:
    """Budgets: int counts >= ``minimum`` (a protocol's ``MIN_BUDGET``, default 2) or fractions in (0, 1)."""
    out = []
    for i, b in enumerate(_list_of(value, where, "budgets")):
        w = where / i
        if isinstance(b, bool) or not isinstance(b, (int, float)):
            raise w.fail(f"expected a budget (an int count >= {minimum} or a float fraction in (0, 1)), got {b!r}.")
        if isinstance(b, float) and b.is_integer() and (b >= 1 or b == minimum):
            b = int(b)
        if isinstance(b, int) and b < minimum:
            raise w.fail(f"expected a training count of at least {minimum} architectures, got {b}.")
        if isinstance(b, float) and not 0 < b < 1:
            raise w.fail(f"expected a fraction strictly between 0 and 1 (or an int count), got {b}.")
        out.append(b)
    return out


def _seeds(value, where: _Where) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SEEDS:
            raise where.fail(f"expected a number of seeds between 1 and {MAX_SEEDS} or a list of ints, got {value}.")
        return list(range(value))
    seeds = _list_of(value, where, "seeds")
    if len(seeds) > MAX_SEEDS:
        raise where.fail(f"expected at most {MAX_SEEDS} seeds, got {len(seeds)}.")
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
            raise (where / i).fail(f"expected a non-negative int seed (at most {MAX_SEED}), got {s!r}.")
    return seeds


def _mapping(value, where: _Where) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise where.fail(f"expected a mapping of parameter names to values, got {type(value).__name__}.")
    return dict(value)


def _predictor_class(name: str):
    # Not memoised here: registry.load already is, and registry.clear_caches() must reach it.
    from nasbench_harness import registry

    return registry.load("predictors", name)


def _loss_class(name: str):
    from nasbench_harness import registry

    return registry.load("losses", name)


def _registry_names(kind: str) -> list[str]:
    from nasbench_harness import registry

    return registry.names(kind)


def _registered(kind: str, name: str, where: _Where):
    """The registered class ``name`` of ``kind`` (predictors or losses); a located ConfigError otherwise."""
    from nasbench_harness import registry

    known = _registry_names(kind)
    if name not in known:
        raise where.fail(f"unknown {registry.registry(kind).singular} '{name}'; `nasbench-harness list {kind}` shows the registered ones.{did_you_mean(name, known)}")
    try:
        return registry.load(kind, name)
    except HarnessError as exc:
        raise where.fail(str(exc)) from None


def _predictor_free_strategies() -> str:
    """'select: a or b; search: c, d' from the strategies' own declarations (read only on this error)."""
    from nasbench_harness import registry

    select, search = [], []
    for name in registry.names("strategies"):
        try:
            cls = registry.load("strategies", name)
        except HarnessError:  # a broken plugin is reported where it is named, not here
            continue
        if getattr(cls, "select_label", None):
            select.append(name)
        if not getattr(cls, "needs_predictor", True):
            search.append(name)
    return f"select: {', '.join(select) or 'none'}; search: {', '.join(search) or 'none'}"


def _no_predictor_method(raw: dict, where: _Where, protocol: str, free_label: str | None) -> dict:
    """The method ``predictor: none``: valid only where the protocol params need no predictor."""
    if free_label is None:
        raise (where / "predictor").fail(
            f"predictor '{NO_PREDICTOR}' is only allowed where the protocol needs no predictor, and protocol '{protocol}' "
            f"with these protocol_params needs one; name a registered predictor or use a predictor-free strategy "
            f"({_predictor_free_strategies()})."
        )
    for key in ("params", "encoding", "loss", "loss_params"):
        if raw.get(key) not in (None, "", {}):
            raise (where / key).fail(f"predictor '{NO_PREDICTOR}' takes no {key}; remove '{key}'.")
    label = _text(raw["label"], where / "label", "a label") if raw.get("label") else free_label
    return {"predictor": NO_PREDICTOR, "params": {}, "encoding": "", "loss": "", "loss_params": {}, "label": label}


def _method(raw, where: _Where, protocol: str = "predict", free_label: str | None = None, optional_label: str | None = None) -> dict:
    """Validate one method; ``free_label`` is the protocol's ``predictor_free_label`` for the block,
    ``optional_label`` its ``baseline_label`` (``none`` allowed beside named predictors)."""
    if isinstance(raw, str):
        raw = {"predictor": raw}
    if not isinstance(raw, dict):
        raise where.fail(f"expected a predictor name or a mapping with a 'predictor' key, got {raw!r}.")
    _check_keys(raw, METHOD_KEYS, where)
    name = raw.get("predictor")
    if not isinstance(name, str) or not name:
        raise (where / "predictor").fail("expected the name of a registered predictor.")
    if name == NO_PREDICTOR:
        return _no_predictor_method(raw, where, protocol, free_label or optional_label)
    if free_label is not None:
        raise (where / "predictor").fail(
            f"protocol '{protocol}' with these protocol_params needs no predictor, so '{name}' would be ignored and "
            f"mislabel the results; write 'predictor: {NO_PREDICTOR}' (optionally with a label)."
        )
    cls = _registered("predictors", name, where / "predictor")
    params = _mapping(raw.get("params"), where / "params")
    unknown = sorted(set(params) - set(getattr(cls, "default_params", {})))
    if unknown:
        raise (where / "params").fail(
            f"predictor '{name}' does not accept {unknown}; it accepts {sorted(getattr(cls, 'default_params', {}))}."
        )
    _check_param_types(name, params, getattr(cls, "default_params", {}), where / "params")
    default_enc = getattr(cls, "default_encoding", "onehot")
    encoding = raw.get("encoding") or default_enc
    if not isinstance(encoding, str):
        raise (where / "encoding").fail(f"expected an encoding name such as onehot, path, meta, graf, zc; got {encoding!r}.")
    if "encoding" in getattr(cls, "inputs", "encoding"):
        _check_encoding(encoding, where / "encoding")
    loss = raw.get("loss")
    if loss is None and getattr(cls, "supports_loss", False):
        loss = getattr(cls, "default_loss", None)
    loss = loss or ""
    loss_params = _mapping(raw.get("loss_params"), where / "loss_params")
    if loss:
        if not getattr(cls, "supports_loss", False):
            raise (where / "loss").fail(
                f"predictor '{name}' is not trained by gradient and takes no loss; remove 'loss' or choose a predictor with supports_loss."
            )
        loss_cls = _registered("losses", loss, where / "loss")
        bad = sorted(set(loss_params) - set(getattr(loss_cls, "default_params", {})))
        if bad:
            raise (where / "loss_params").fail(
                f"loss '{loss}' does not accept {bad}; it accepts {sorted(getattr(loss_cls, 'default_params', {}))}."
            )
    elif loss_params:
        raise (where / "loss_params").fail("loss_params given without a loss; add 'loss: NAME' or remove them.")
    _instantiate(name, cls, params, encoding, loss, loss_params, where)
    label = _text(raw["label"], where / "label", "a label") if raw.get("label") else method_label(name, loss, encoding, default_enc, params)
    return {
        "predictor": name,
        "params": params,
        "encoding": encoding,
        "loss": loss,
        "loss_params": loss_params,
        "label": str(label),
    }


def _text(value, where: _Where, what: str) -> str:
    """A name or label: one line of text (a number is taken as its text); lists, mappings and
    control characters (tab, newline, NUL) would turn into confusing leaderboard rows."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise where.fail(f"expected {what} as plain text, got {type(value).__name__} {repr(value)[:60]}; quote it if it is meant as text.")
    text = str(value)
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise where.fail(f"expected {what} without control characters (tab, newline, NUL), got {text[:60]!r}.")
    return text


def _type_name(value) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _check_param_types(name: str, params: dict, defaults: dict, where: _Where) -> None:
    """Each given parameter must have the type of its default (an int may stand for a float)."""
    for key, value in params.items():
        default = defaults.get(key)
        if default is None or value is None:
            continue
        if isinstance(default, bool) or isinstance(value, bool):
            ok = isinstance(default, bool) and isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and (isinstance(default, float) or isinstance(value, int))
        elif isinstance(default, (list, tuple)):
            ok = isinstance(value, (list, tuple))
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise (where / key).fail(f"predictor '{name}' expects {_type_name(default)} for '{key}' (default {default!r}), got {value!r}.")


def _check_encoding(kind: str, where: _Where) -> None:
    """The same check (and sentence) as computing the encoding at run time."""
    from nasbench_harness.tasks.encodings import check_kind

    try:
        check_kind(kind)
    except HarnessError as exc:
        raise where.fail(str(exc)) from None


def _instantiate(name: str, cls, params: dict, encoding: str, loss: str, loss_params: dict, where: _Where) -> None:
    """Build the method as a cell would (loss first), so constructor errors surface now."""
    try:
        loss_obj = _loss_class(loss)(**loss_params) if loss else None
        cls(seed=0, encoding=encoding, loss=loss_obj, **params)
    except HarnessError as exc:
        raise where.fail(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a plugin's constructor may raise anything
        raise where.fail(f"predictor '{name}' cannot be built with params {params} ({type(exc).__name__}: {exc}); fix the params.") from None


def check_labels(cells: list[Cell], where: _Where) -> None:
    """Two different methods under one label would be merged into one leaderboard row."""
    seen: dict[str, tuple] = {}
    for c in cells:
        ident = (c.predictor, canonical_json(c.params), c.encoding, c.loss, canonical_json(c.loss_params))
        other = seen.setdefault(c.method, ident)
        if other != ident:
            raise where.fail(
                f"two different methods have the label '{c.method}' ({other[0]} {other[1]} @{other[2]} {other[3]} and "
                f"{ident[0]} {ident[1]} @{ident[2]} {ident[3]}); their results would be merged into one row, so give each its own label."
            )


def check_budgets(matrix: str, cells: list[Cell], sizes: dict[str, int]) -> None:
    """Every count budget must fit its task (``sizes``: task -> architectures), leaving the
    architectures its protocol's ``budget_leaves`` asks for (predict: one to evaluate)."""
    from nasbench_harness.protocols import get_protocol

    for c in cells:
        if not isinstance(c.budget, int) or c.task not in sizes:
            continue
        if c.budget > sizes[c.task]:
            raise ConfigError(
                f"The budget {c.budget} of matrix '{matrix}' exceeds the {sizes[c.task]} architectures of task "
                f"'{c.task}'; use a smaller count or a fraction."
            )
        if c.budget > sizes[c.task] - get_protocol(c.protocol).budget_leaves:
            raise ConfigError(
                f"The budget {c.budget} of matrix '{matrix}' leaves none of the {sizes[c.task]} architectures of task "
                f"'{c.task}' to evaluate ({c.protocol} protocol); use a smaller count or a fraction."
            )


def _tasks(value, where: _Where) -> list[str]:
    from nasbench_harness.tasks.catalog import builtin_tasks, task_specs

    specs = task_specs()
    tasks = _list_of(value, where, "task names")
    out = []
    for i, t in enumerate(tasks):
        if not isinstance(t, str):
            raise (where / i).fail(f"expected a task name such as 'nbgraph/cora', got {t!r}.")
        if t.endswith("/*"):  # every task of a space
            matched = [n for n, s in specs.items() if s.space == t[:-2]]
            if not matched:
                spaces = sorted({s.space for s in specs.values()})
                raise (where / i).fail(f"no tasks for search space '{t[:-2]}'; known spaces: {spaces}.{did_you_mean(t[:-2], spaces)}")
            out += matched
        elif t == "*":  # the built-in benchmark tasks only: never a plugin's nor the toy space's
            out += builtin_tasks()
        elif t not in specs:
            raise (where / i).fail(
                f"unknown task '{t}'; `nasbench-harness list tasks` shows the known ones.{did_you_mean(t, specs)}"
            )
        else:
            out.append(t)
    return list(dict.fromkeys(out))


def _protocol(value, where: _Where) -> str:
    from nasbench_harness import registry

    known = registry.names("protocols")
    if not isinstance(value, str) or value not in known:
        raise where.fail(f"unknown protocol {value!r}; expected one of {known}.{did_you_mean(str(value), known)}")
    return value


def _check_protocol_params(protocol, params: dict, where: _Where) -> str | None:
    """The protocol's ``check_params``; returns its ``predictor_free_label(params)`` (None when the
    params need a predictor). ``protocol`` is a ``protocols.base.Protocol``."""
    try:
        protocol.check_params(params)
    except HarnessError as exc:
        raise where.fail(str(exc)) from None
    return protocol.predictor_free_label(params)


def _resolve_methods(value, where: _Where, protocol: str = "predict", free_label: str | None = None, optional_label: str | None = None) -> list[dict]:
    if value == "*" or value == ["*"]:  # every registered predictor with its defaults
        value = _registry_names("predictors")
    return [_method(m, where / i, protocol, free_label, optional_label) for i, m in enumerate(_list_of(value, where, "methods"))]


def _block_cells(block: dict, where: _Where, matrix: str) -> list[Cell]:
    for key in ("tasks", "methods", "budgets"):
        if key not in block:
            raise where.fail(f"missing '{key}' (set it here or at the top level).")
    from nasbench_harness.protocols import get_protocol

    protocol = _protocol(block.get("protocol", "predict"), where / "protocol")
    proto = get_protocol(protocol)
    pparams = _mapping(block.get("protocol_params"), where / "protocol_params")
    free_label = _check_protocol_params(proto, pparams, where / "protocol_params")
    optional_label = proto.baseline_label(pparams)
    tasks = _tasks(block["tasks"], where / "tasks")
    for i, t in enumerate(tasks):
        try:
            proto.check_task(pparams, t)
        except HarnessError as exc:
            raise (where / "tasks" / i).fail(str(exc)) from None
    methods = _resolve_methods(block["methods"], where / "methods", protocol, free_label, optional_label)
    budgets = _budgets(block["budgets"], where / "budgets", proto.min_budget)
    seeds = _seeds(block.get("seeds", 1), where / "seeds")
    n = len(tasks) * len(methods) * len(budgets) * len(seeds)
    if n > MAX_CELLS:
        raise where.fail(f"this block expands to {n} cells, more than the limit of {MAX_CELLS}; use fewer tasks, methods, budgets or seeds.")
    return [
        Cell(protocol=protocol, task=t, budget=b, seed=s, protocol_params=pparams, matrix=matrix, **m)
        for t, m, b, s in itertools.product(tasks, methods, budgets, seeds)
    ]


@dataclass
class Matrix:
    name: str
    path: Path
    description: str
    cells: list[Cell]
    files: dict[str, str] = field(default_factory=dict)  # every file read (includes too): path -> sha256, or "absent"

    def __len__(self) -> int:
        return len(self.cells)


def _expand_file(path: Path, overrides: list[str], seen: tuple[Path, ...], matrix_name: str | None) -> Matrix:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"The matrix {path} includes itself (through {' -> '.join(p.name for p in seen)}); remove the cycle.")
    doc = _load_yaml(path)
    files = {str(path): file_digest(path)}
    for o in overrides:
        set_override(doc, o)
    top = _Where(path)
    _check_keys(doc, TOP_KEYS, top)
    name = _text(doc["name"], top / "name", "a matrix name") if doc.get("name") else path.stem
    matrix_name = matrix_name or name
    defaults = {k: v for k, v in doc.items() if k in BLOCK_KEYS}
    cells: list[Cell] = []
    blocks = doc.get("blocks")
    if blocks is not None:
        for i, block in enumerate(_list_of(blocks, top / "blocks", "blocks")):
            w = top / "blocks" / i
            if not isinstance(block, dict):
                raise w.fail("expected a mapping (a sub-matrix with its own tasks/methods/budgets/seeds).")
            _check_keys(block, BLOCK_KEYS | {"name", "description"}, w)
            merged = {**copy.deepcopy(defaults), **{k: v for k, v in block.items() if k in BLOCK_KEYS}}
            cells += _block_cells(merged, w, matrix_name)
    elif "tasks" in doc or "methods" in doc:
        cells += _block_cells(defaults, top, matrix_name)
    for key in ("include", "include_if_present"):
        includes = doc.get(key) or []
        for i, raw in enumerate(_list_of(includes, top / key, "files") if includes else []):
            inc_path, inc_set, inc_filter = _include_entry(raw, path.parent, top / key / i)
            if inc_path.exists() and not inc_path.is_file():  # a FIFO or device (/dev/zero) is never read
                raise (top / key / i).fail(f"the included {inc_path} is not a regular file; include a YAML matrix file.")
            if not inc_path.is_file():
                if key == "include_if_present":
                    files[str(inc_path.resolve())] = ABSENT  # creating it changes the matrix
                    continue
                raise (top / key / i).fail(f"the included file {inc_path} does not exist; fix the path (relative to {path.parent}).")
            try:
                # The include's own overrides first, then this file's (a --set reaches every included file).
                included = _expand_file(inc_path, [*inc_set, *overrides], (*seen, path), matrix_name)
                files.update(included.files)
                cells += filter_cells(included.cells, inc_filter) if inc_filter else included.cells
            except ConfigError as exc:
                if not inc_set and not inc_filter and not overrides:
                    raise
                raise (top / key / i).fail(str(exc)) from None
            if len(cells) > MAX_CELLS:
                raise (top / key / i).fail(f"the matrix expands to more than {MAX_CELLS} cells with its includes; split it.")
    if not cells:
        raise top.fail("the matrix has no cells; give tasks, methods and budgets (or blocks / include).")
    if not seen:  # the whole matrix, includes merged
        check_labels(cells, top)
    return Matrix(name=name, path=path, description=str(doc.get("description", "")), cells=cells_unique(cells), files=files)


INCLUDE_KEYS = {"file", "matrix", "set", "filter"}


def include_path(raw, folder: Path, where: _Where | None = None) -> Path:
    """The file an include names: ``file:`` relative to ``folder`` (or a bare file name), or
    ``matrix:`` a built-in matrix by name (a study's matrix lives in its study's folder)."""
    where = where or _Where(folder)
    if isinstance(raw, dict) and "matrix" in raw:
        name = raw["matrix"]
        known = builtin_matrices()
        if not isinstance(name, str) or name not in known:
            raise (where / "matrix").fail(f"expected a built-in matrix name, got {name!r}.{did_you_mean(str(name), known)}")
        return known[name]
    inc = raw.get("file") if isinstance(raw, dict) else raw
    if not isinstance(inc, str) or Path(inc).is_absolute() or ".." in Path(inc).parts or inc.startswith("~"):
        raise where.fail(f"expected a relative path to a matrix file in {folder} or below (no absolute path, no '..'), got {inc!r}.")
    return folder / inc


def _include_entry(raw, folder: Path, where: _Where) -> tuple[Path, list[str], list[str]]:
    """An include: a file name, or ``{file: NAME.yaml | matrix: NAME, set: [key=value, ...], filter: [field=glob, ...]}``
    (the same overrides and filters as ``run --set`` and ``--filter``, applied to that file only)."""
    if not isinstance(raw, dict):
        return include_path(raw, folder, where), [], []
    _check_keys(raw, INCLUDE_KEYS, where)
    if ("file" in raw) == ("matrix" in raw):
        raise where.fail("expected 'file: NAME.yaml' or 'matrix: NAME' in an include given as a mapping (with optional set: and filter: lists).")
    lists = []
    for k in ("set", "filter"):
        value = raw.get(k) or []
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
            example = "seeds=5" if k == "set" else "budget=0.01,100"
            raise (where / k).fail(f"expected a list of key=value strings such as '{example}', got {raw.get(k)!r}.")
        lists.append(value)
    return include_path(raw, folder, where), lists[0], lists[1]


def cells_unique(cells: list[Cell]) -> list[Cell]:
    """Drop repeated cells (same identity), keeping the first occurrence."""
    seen, out = set(), []
    for c in cells:
        ident = canonical_json(c.identity())
        if ident not in seen:
            seen.add(ident)
            out.append(c)
    return out


def load_matrix(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Matrix:
    """Find, validate and expand a matrix into its cells."""
    return _expand_file(find_matrix(name_or_path), list(overrides), (), None)


def expand_blocks(name: str, path: Path, blocks: list[dict], where: str = "blocks") -> list[Cell]:
    """The cells of matrix blocks given as data (as a matrix file's ``blocks``), checked as a
    file's are; ``where`` names them in errors (e.g. the option that made them)."""
    top = _Where(path, where)
    cells = []
    for i, block in enumerate(blocks):
        cells += _block_cells(block, top / i, name)
    check_labels(cells, top)
    return cells_unique(cells)


# -- filtering ----------------------------------------------------------------------------
FILTER_FIELDS = ("protocol", "task", "predictor", "encoding", "loss", "budget", "seed", "method", "space")


def _number(text: str) -> str | None:
    """``text`` as a canonical number ('20.0' -> '20') when it is one, else None."""
    try:
        return f"{float(text):g}"
    except ValueError:
        return None


def _cell_field(cell: Cell, fld: str) -> str:
    if fld == "budget":  # 20, 20.0 and 2e1 are the same budget
        return f"{float(cell.budget):g}"
    if fld == "method":
        return cell.method
    if fld == "space":
        return cell.task.split("/")[0]
    return str(getattr(cell, fld))


def filter_cells(cells: list[Cell], filters: list[str]) -> list[Cell]:
    """Keep cells matching every ``field=pattern[,pattern]`` (shell globs, OR within a field)."""
    from fnmatch import fnmatchcase

    parsed = []
    for f in filters:
        if "=" not in f:
            raise ConfigError(f"The filter '{f}' must look like field=pattern (e.g. predictor=xgboost or task=nbgraph/*).")
        fld, pats = f.split("=", 1)
        fld = fld.strip()
        if fld not in FILTER_FIELDS:
            raise ConfigError(f"Cannot filter on '{fld}'; expected one of {list(FILTER_FIELDS)}.{did_you_mean(fld, FILTER_FIELDS)}")
        pats = [p.strip() for p in pats.split(",")]
        if fld == "budget":
            pats = [_number(p) or p for p in pats]
        parsed.append((fld, pats))
    return [c for c in cells if all(any(fnmatchcase(_cell_field(c, fld), p) for p in pats) for fld, pats in parsed)]
