"""Reading the YAML files users write (configurations, job lists), safely and with lines.

:func:`read_text` reads only a small regular file (never a FIFO or a device, nothing over
:data:`MAX_BYTES`); :func:`parse` refuses nesting deeper than :data:`MAX_DEPTH` and aliases
that repeat more than :data:`MAX_REPEATED` values in all (a "billion laughs") or contain
themselves, and applies merge keys (``<<: *base``).  Mappings come back as :class:`Located`
dicts that know the line of each key.  Every problem is a :class:`~lrms.errors.ConfigError`
naming the file and line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any, cast

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from .errors import ConfigError
from .quantity import Memory

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_REPEATED", "Located", "load", "parse", "read_text"]

MAX_BYTES = 1024**2
MAX_DEPTH = 50
MAX_REPEATED = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class Located(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "an unknown kind of file")
    return f"not a regular file ({kind})"


def read_text(path: str) -> str:
    """The UTF-8 text of the regular file ``path``, at most :data:`MAX_BYTES` long."""
    try:
        problem = _not_regular(os.stat(path).st_mode)
        if problem:
            raise ConfigError(problem, path=path)
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        with os.fdopen(descriptor, "rb") as handle:
            info = os.fstat(descriptor)
            problem = _not_regular(info.st_mode)  # replaced since os.stat
            if problem:
                raise ConfigError(problem, path=path)
            data = b"" if info.st_size > MAX_BYTES else handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=path) from None
    if info.st_size > MAX_BYTES or len(data) > MAX_BYTES:  # len: a file that grew
        size = Memory(max(info.st_size, len(data)))
        raise ConfigError(f"too large: {size} (at most {Memory(MAX_BYTES)})", path=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", path=path,
                          line=line) from None


def load(path: str) -> Any:
    """:func:`parse` the text of :func:`read_text`."""
    return parse(read_text(path), path)


class _Limit(Exception):
    """A bound of this module was passed at ``line``."""

    def __init__(self, problem: str, line: int) -> None:
        super().__init__(problem)
        self.problem, self.line = problem, line


def _too_deep(line: int) -> _Limit:
    return _Limit(f"nested more than {MAX_DEPTH} levels deep", line)


def _too_many(line: int) -> _Limit:
    return _Limit(f"aliases repeat more than {MAX_REPEATED} values", line)


class _Alias(yaml.Node):
    """An alias where it is used: the node it names, at the alias's own position."""

    id = "alias"

    def __init__(self, target: yaml.Node, mark: Any) -> None:
        super().__init__(target.tag, target.value, mark, mark)
        self.target = target


class _Composer(Composer):
    """PyYAML's composer with a depth bound (its recursion would otherwise overflow) and
    aliases kept as :class:`_Alias` nodes, so that the walk knows where each is used."""

    depth = aliases = 0
    check_event: Callable[..., bool]  # of the parser it is mixed with
    peek_event: Callable[[], Any]

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            self.aliases += 1  # each repeats a value at least: stop early
            if self.aliases > MAX_REPEATED:
                raise _too_many(mark.line + 1)
            return _Alias(cast(yaml.Node, super().compose_node(parent, index)), mark)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _too_deep(self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _PythonLoader(Reader, Scanner, Parser, _Composer, SafeConstructor, Resolver):
    """PyYAML's own scanner and parser under the bounded composer."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


_Loader: type[Any] = _PythonLoader
if yaml.__with_libyaml__:  # libyaml scans and parses faster; composing stays bounded here
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _LibyamlLoader(_Composer, CParser, SafeConstructor, Resolver):
        """libyaml's scanner and parser under the bounded composer."""

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            _Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _Loader = _LibyamlLoader


def _error_line(exc: yaml.MarkedYAMLError, text: str) -> int | None:
    """The line to show: where the problem is, or, if it is only found at the end of the
    file (an unclosed quote or bracket), where its construct began; never past the last
    line with content."""
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None
    lines = text.rstrip().splitlines()
    last = len(lines) or 1
    at_end = mark.line + 1 > last or (
        mark.line + 1 == last and not lines[mark.line][mark.column:].strip())
    if at_end and exc.context_mark is not None:
        mark = exc.context_mark
    return min(mark.line + 1, last)


def parse(text: str, path: str) -> Any:
    """The YAML document in ``text`` (from the file ``path``) as plain values."""
    bad = Reader.NON_PRINTABLE.search(text)
    if bad:
        line = len((text[:bad.start()] + ".").splitlines())
        raise ConfigError(f"invalid YAML: special characters are not allowed "
                          f"(#x{ord(bad.group()):04x})", path=path, line=line)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _Walk(loader, path).value(node, 1)
    except _Limit as exc:
        raise ConfigError(exc.problem, path=path, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"invalid YAML: {problem}", path=path,
                          line=_error_line(exc, text)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=path) from None
    finally:
        loader.dispose()


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Walk:
    """Nodes to plain values: merge keys applied, aliases followed and counted.

    Values keep the lines where they are written (a merged key: its line in the mapping
    merged); a bound passed inside an alias is reported at the line using the alias.
    """

    def __init__(self, loader: Any, path: str) -> None:
        self.loader, self.path = loader, path
        self.open: set[int] = set()  # the collections being converted
        self.alias_line: int | None = None  # of the outermost alias being followed
        self.repeated = 0

    def value(self, node: yaml.Node, depth: int) -> Any:
        where = self.alias_line or _line(node)
        if depth > MAX_DEPTH:
            raise _too_deep(where)
        if isinstance(node, _Alias):
            if id(node.target) in self.open:
                raise _Limit("recursive alias: the value contains itself", where)
            outermost = self.alias_line is None
            self.alias_line = where
            try:
                return self.value(node.target, depth)
            finally:
                if outermost:
                    self.alias_line = None
        if self.alias_line is not None:
            self.repeated += 1
            if self.repeated > MAX_REPEATED:
                raise _too_many(where)
        self.open.add(id(node))
        try:
            return self._convert(node, depth)
        finally:
            self.open.discard(id(node))

    def _convert(self, node: yaml.Node, depth: int) -> Any:
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
            raise ConfigError(f"invalid YAML: unsupported tag {node.tag!r}", path=self.path,
                              line=self.alias_line or _line(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, depth + 1) for item in node.value]
        value = self.loader.construct_object(node)
        # YAML 1.1 reads 1:30:00 as a base-60 number; keep the text for quantities.
        if isinstance(value, (int, float)) and not isinstance(value, bool) and ":" in node.value:
            return node.value
        return value

    def _key(self, node: yaml.Node) -> str:
        target = node.target if isinstance(node, _Alias) else node
        if not isinstance(target, yaml.ScalarNode):
            kind = "mapping" if isinstance(target, yaml.MappingNode) else "list"
            raise ConfigError(f"a key must be a string, not a {kind}", path=self.path,
                              line=_line(node))
        key = self.loader.construct_object(target)
        if not isinstance(key, str):
            raise ConfigError(f"key {key!r} must be a string", path=self.path, line=_line(node))
        return key

    def _mapping(self, node: yaml.MappingNode, depth: int) -> Located:
        mapping = Located()
        mapping.line, mapping.key_lines = _line(node), {}
        written: set[str] = set()
        entries: list[tuple[str | None, yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            key = None if key_node.tag == _MERGE_TAG else self._key(key_node)
            if key in written or (key is None and any(k is None for k, _, _ in entries)):
                raise ConfigError("duplicate key", path=self.path, line=_line(key_node),
                                  key=key or "<<")
            if key is not None:
                written.add(key)
            entries.append((key, key_node, value_node))
        for key, key_node, value_node in entries:
            if key is not None:
                mapping[key] = self.value(value_node, depth + 1)
                mapping.key_lines[key] = _line(key_node)
                continue
            for merged in self._merged(value_node, depth):
                for name, value in merged.items():  # keys written here, and earlier, win
                    if name not in written and name not in mapping:
                        mapping[name] = value
                        mapping.key_lines[name] = merged.key_lines[name]
        return mapping

    def _merged(self, node: yaml.Node, depth: int) -> list[Located]:
        """The mappings of a merge key's value: a mapping, or a list of mappings."""
        merged = self.value(node, depth + 1)
        sources = merged if isinstance(merged, list) else [merged]
        if not all(isinstance(source, Located) for source in sources):
            raise ConfigError("the merge key << takes a mapping or a list of mappings, "
                              "e.g. '<<: *defaults'", path=self.path, line=_line(node))
        return sources
