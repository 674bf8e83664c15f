"""YAML from users (matrix files, ``--set`` values), parsed with bounds.

PyYAML's safe loader still lets a 300-byte document expand, through nested aliases, into
billions of values once the harness walks it, recurses once per nesting level (a
5,000-deep document ends in RecursionError) and keeps the last of two equal keys. This
loader refuses all three while it composes the document, before anything uses it.
"""

from __future__ import annotations

import yaml

MAX_DEPTH = 50  # nesting levels; the built-in matrices use at most 7
MAX_ALIAS_NODES = 50_000  # values reached through aliases (*name), counted expanded; built-ins: ~1,000


class YAMLLimitError(yaml.YAMLError):
    """A document beyond a bound; ``reason`` completes 'The matrix X ...' and says what to do."""

    def __init__(self, reason: str, mark=None) -> None:
        super().__init__(reason)
        self.reason, self.problem_mark = reason, mark


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> its value count with aliases expanded
        self._aliased = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self._aliased += self._sizes.get(id(node), 1)
            if self._aliased > MAX_ALIAS_NODES:
                raise YAMLLimitError(f"uses aliases (*name) that expand to more than {MAX_ALIAS_NODES:,} values; write the values out instead", node.start_mark)
            return node
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YAMLLimitError(f"is nested too deeply (more than {MAX_DEPTH} levels) to be a matrix; fix its structure", self.peek_event().start_mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(child), 1) for child in _children(node))
        return node

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key, _ in node.value:  # the keys written in this mapping (merged ones may be overridden)
            ident = (key.tag, key.value) if isinstance(key, yaml.ScalarNode) else id(key)
            if ident in seen:
                raise YAMLLimitError("repeats a key in one mapping (each key may appear once); remove one of the two", key.start_mark)
            seen.add(ident)
        return super().construct_mapping(node, deep)


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load(text: str | bytes):
    """The document in ``text``; ``YAMLLimitError`` past a bound, ``yaml.YAMLError`` when invalid."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
