"""Sphinx extension: the lrms reference pages, generated from the code at build time.

Directives:

``lrms-config-options``
    Tables of the core resource keys, the auth keys and, for every installed
    backend, its declared :class:`lrms.Option` objects (any host page).
``lrms-cli`` *module:function*
    Every command of an argparse parser: usage, description, options, epilog
    (any host page).
``lrms-hookspecs``
    The hook specification, one section per kind of hook (reStructuredText pages).
``lrms-api``
    Autodoc of the public API, grouped (reStructuredText pages).

The generators (:func:`config_tables`, :func:`api_groups`, :func:`hookspec_groups`)
are plain functions, so tests can check what the pages will list.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import inspect
import re
import sys
import typing
from collections.abc import Iterator, Sequence
from typing import Any

from docutils import nodes
from docutils.parsers.rst import states
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

log = logging.getLogger(__name__)

# -- generators ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OptionTable:
    """One table of the configuration reference."""

    title: str
    intro: str
    options: Sequence[Any]  # lrms.Option
    backend: str | None = None


def config_tables() -> list[OptionTable]:
    """The configuration reference: core keys, auth keys, then each installed backend.

    Imports every installed backend; a backend that fails to load raises its
    :class:`lrms.BackendError`.
    """
    from importlib import metadata

    from lrms.backends import list_backends, load_backend_class
    from lrms.config import AGENT_OPTIONS, CORE_OPTIONS, SSH_AUTH_OPTIONS

    tables = [
        OptionTable("Resource keys (every backend)",
                    "Keys of each entry under ``resources``, whatever its backend.",
                    CORE_OPTIONS),
        OptionTable("Auth keys", "Keys of each entry under ``auths``.", SSH_AUTH_OPTIONS),
        OptionTable("Agent keys", "Keys of the optional top-level ``agent`` section.",
                    AGENT_OPTIONS),
    ]
    for info in list_backends():
        cls = load_backend_class(info.name)
        where = f"{cls.__module__}.{cls.__qualname__}"
        intro = f"Selected by ``backend: {info.name}``; class ``{where}``"
        if info.distribution:
            summary = metadata.metadata(info.distribution)["Summary"]
            intro += f" of distribution ``{info.distribution}`` {info.version} ({summary})"
        intro += ". The core keys above apply too."
        per_job = getattr(cls, "app_options", ())
        if per_job:
            names = ", ".join(f"``{name}``" for name in per_job)
            intro += (f" An application may set {names} for itself in "
                      f"``extra={{\"{info.name}\": {{...}}}}``.")
        tables.append(OptionTable(f"Backend {info.name}", intro, tuple(cls.options), info.name))
    return tables


def _yaml(value: Any) -> str:
    """A default value as it would be written in the YAML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(item) for item in value) + "]"
    return str(value)


def option_row(option: Any) -> tuple[str, str, str, str]:
    """``(key, kind, default, help)`` of one :class:`lrms.Option`, inline-markup text."""
    kind = option.kind
    if option.choices:
        kind += ": " + " | ".join(f"``{_yaml(choice)}``" for choice in option.choices)
    if option.required:
        default = "required"
    elif option.default is None:
        default = "(none)"
    else:
        default = f"``{_yaml(option.default)}``"
    return f"``{option.name}``", kind, default, option.help


@dataclasses.dataclass(frozen=True)
class ApiGroup:
    """One section of the API reference: objects as dotted names."""

    title: str
    names: Sequence[str]


#: Sections of the API reference; names of ``lrms.__all__`` not listed here go
#: to a final "Other" section, so a new public name always appears.
API_GROUPS = (
    ApiGroup("Data model", ("lrms.Application", "lrms.Job", "lrms.State",
                            "lrms.TerminationReason", "lrms.ResourceStatus", "lrms.Arch",
                            "lrms.Memory", "lrms.Duration", "lrms.Dependency")),
    ApiGroup("Resources", ("lrms.LRMS",)),
    ApiGroup("Engine and job store", ("lrms.engine", "lrms.engine.*", "lrms.store",
                                      "lrms.store.*")),
    ApiGroup("Configuration", ("lrms.config", "lrms.load_config", "lrms.Config",
                               "lrms.Option")),
    ApiGroup("Executor", ("lrms.executor.*",)),
    ApiGroup("Errors", ("lrms.errors.*",)),
    ApiGroup("Plugins and backends", ("lrms.API_VERSION", "lrms.hookimpl", "lrms.register",
                                      "lrms.unregister", "lrms.Backend", "lrms.SandboxBackend",
                                      "lrms.list_backends", "lrms.BackendInfo")),
    ApiGroup("Transports and authentication", ("lrms.Auth", "lrms.SshAuth",
                                               "lrms.authenticated", "lrms.transport",
                                               "lrms.transport.*", "lrms.transport.ssh",
                                               "lrms.transport.ssh.*")),
)


def _resolve(name: str) -> Any:
    """The module or the module attribute ``name`` names."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _module(name: str) -> Any:
    """The module ``name``, or None if it does not exist (yet)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def api_groups() -> list[ApiGroup]:
    """The API reference's sections with the names that exist today.

    ``module.*`` stands for the names of that module's ``__all__``, in
    definition order.  Names of a module that is not there yet are left out
    (``lrms.engine``, ``lrms.store`` while they are written); any other import
    failure, or a name listed twice, raises.  An object also public as
    ``lrms.NAME`` is documented under that name; names of ``lrms.__all__`` in
    no group end up in "Other".
    """
    import lrms

    public = {f"lrms.{name}" for name in lrms.__all__}
    seen: set[str] = set()
    groups = []
    for group in (*API_GROUPS, ApiGroup("Other", ("lrms.*",))):
        names = []
        for pattern in group.names:
            if pattern.endswith(".*"):
                module = _module(pattern[:-2])
                if module is None:
                    continue
                order = list(vars(module))  # definition order
                expanded = [f"{module.__name__}.{name}"
                            for name in sorted(module.__all__, key=order.index)]
                if pattern == "lrms.*":
                    expanded = [name for name in expanded if name not in seen]
            else:
                expanded = [pattern]
            for name in expanded:
                try:
                    obj = _resolve(name)
                except ModuleNotFoundError as exc:
                    if exc.name and f"{name}.".startswith(f"{exc.name}."):
                        continue  # a module not written yet
                    raise
                short = name.rpartition(".")[2]
                if (not inspect.ismodule(obj) and name not in public
                        and getattr(lrms, short, None) is obj):
                    name = f"lrms.{short}"  # public as lrms.NAME too: document that name
                if name in seen:
                    raise ValueError(f"API reference: {name} is listed twice in API_GROUPS")
                seen.add(name)
                names.append(name)
        if names:
            groups.append(ApiGroup(group.title, names))
    return groups


@dataclasses.dataclass(frozen=True)
class HookGroup:
    """One section of the hook reference."""

    title: str
    intro: str
    names: Sequence[str]


def hookspec_groups() -> list[HookGroup]:
    """Every hook of :mod:`lrms.hookspecs`, in source order, by kind."""
    from lrms import hookspecs

    marker = f"{hookspecs.PROJECT}_spec"
    specs = [name for name, obj in vars(hookspecs).items() if hasattr(obj, marker)]
    required = [name for name in specs if name in hookspecs.OPERATIONS]
    optional = [name for name in specs if name in hookspecs.OPTIONAL_OPERATIONS]
    events = [name for name in specs if name not in (*required, *optional)]
    return [
        HookGroup("Operations", "Every backend implements these (``OPERATIONS``).", required),
        HookGroup("Optional operations",
                  "A backend may leave these out (``OPTIONAL_OPERATIONS``).", optional),
        HookGroup("Events and extension hooks",
                  "Implemented by extension plugins; every implementation is called.", events),
    ]


# -- docutils helpers ------------------------------------------------------------

_CODE = re.compile(r"``(.+?)``|`([^`]+)`")


def inline(text: str) -> list[nodes.Node]:
    """``text`` as docutils nodes: ````code```` and ```code``` become literals."""
    result: list[nodes.Node] = []
    position = 0
    for match in _CODE.finditer(text):
        if match.start() > position:
            result.append(nodes.Text(text[position:match.start()]))
        code = match.group(1) or match.group(2)
        result.append(nodes.literal(code, code))
        position = match.end()
    if position < len(text):
        result.append(nodes.Text(text[position:]))
    return result


def _paragraph(content: str | Sequence[nodes.Node]) -> nodes.paragraph:
    return nodes.paragraph("", "", *(inline(content) if isinstance(content, str) else content))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]],
           widths: Sequence[int]) -> nodes.table:
    """A table; each cell is inline-markup text or a list of nodes."""
    table = nodes.table(classes=["lrms-reference"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head, body = nodes.thead(), nodes.tbody()
    for parent, cells in ((head, header), *((body, row) for row in rows)):
        row = nodes.row()
        for cell in cells:
            row += nodes.entry("", _paragraph(cell))
        parent += row
    group += head
    group += body
    return table


class _Directive(SphinxDirective):
    """Base of the directives: their pages are generated, so always read again."""

    def run(self) -> list[nodes.Node]:
        docs = self.env.domaindata.setdefault("lrms_docs", {"generated": set()})["generated"]
        docs.add(self.env.docname)
        return self.generate()

    def generate(self) -> list[nodes.Node]:
        raise NotImplementedError

    def section(self, title: str | Sequence[nodes.Node], key: str) -> nodes.section:
        """A new section; ``key`` makes its anchor."""
        section = nodes.section(names=[nodes.fully_normalize_name(key)])
        children = inline(title) if isinstance(title, str) else list(title)
        section += nodes.title("", "", *children)
        self.state.document.note_implicit_target(section, section)
        return section

    def parse_rst(self, lines: Sequence[str], into: nodes.Element) -> None:
        """Parse reStructuredText (autodoc directives) into ``into``."""
        if not isinstance(self.state, states.RSTState):
            raise self.error(f"{self.name} works in reStructuredText pages only")
        self.state.nested_parse(StringList(list(lines), self.get_source_info()[0]),
                                self.content_offset, into)


# -- directives -------------------------------------------------------------------


class ConfigOptions(_Directive):
    """Tables of every configuration key: core, auths, each installed backend."""

    def generate(self) -> list[nodes.Node]:
        try:
            tables = config_tables()
        except Exception as exc:  # a broken backend must fail the build, not crash it
            log.warning("config reference: %s", exc, location=self.get_location())
            return []
        result: list[nodes.Node] = []
        for table in tables:
            section = self.section(table.title, table.title)
            section += _paragraph(table.intro)
            guide = f"backends/{table.backend}"
            if table.backend and guide in self.env.found_docs:
                link = addnodes.pending_xref("", nodes.inline("", f"{table.backend} backend"),
                                             refdomain="std", reftype="doc",
                                             reftarget=f"/{guide}", refexplicit=True)
                section += _paragraph([nodes.Text("Guide: the "), link, nodes.Text(" page.")])
            section += _table(("key", "kind", "default", "meaning"),
                              [option_row(option) for option in table.options],
                              (18, 18, 14, 50))
            result.append(section)
        return result


class CommandLine(_Directive):
    """Every command of an argparse parser: ``.. lrms-cli:: module:function``."""

    required_arguments = 1

    def generate(self) -> list[nodes.Node]:
        module, _, function = self.arguments[0].partition(":")
        try:
            parser = getattr(importlib.import_module(module), function)()
        except Exception as exc:  # a broken CLI must fail the build, not crash it
            log.warning("CLI reference: cannot build the parser %s: %s: %s", self.arguments[0],
                        type(exc).__name__, exc, location=self.get_location())
            return []
        if not isinstance(parser, argparse.ArgumentParser):
            log.warning("CLI reference: %s returned %r, not an argparse.ArgumentParser",
                        self.arguments[0], parser, location=self.get_location())
            return []
        return self.parser_sections(parser, parser.prog, None)

    def parser_sections(self, parser: argparse.ArgumentParser, prog: str,
                        summary: str | None) -> list[nodes.Node]:
        """A section for ``parser``, followed by those of its subcommands."""
        section = self.section([nodes.literal(prog, prog)], prog)
        # A fixed width: the page must not depend on the terminal of the build.
        formatter: argparse.HelpFormatter = typing.cast(Any, parser.formatter_class)(
            prog=prog, width=88)
        for text in (parser.description or summary or "").split("\n\n"):
            if text.strip():
                section += _paragraph(" ".join(text.split()))
        formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
        usage = formatter.format_help().strip()
        section += nodes.literal_block(usage, usage, language="text")
        subsections: list[nodes.Node] = []
        commands = []
        for group in parser._action_groups:
            rows = []
            for action in group._group_actions:
                if isinstance(action, argparse._SubParsersAction):
                    for choice in action._choices_actions:
                        sub = action.choices[choice.dest]
                        children = self.parser_sections(sub, sub.prog, choice.help)
                        link = nodes.reference("", "", nodes.literal(choice.dest, choice.dest),
                                               refid=children[0]["ids"][0], internal=True)
                        commands.append(([link], choice.help or ""))
                        subsections += children
                    continue
                if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                    continue
                invocation = formatter._format_action_invocation(action)
                rows.append(([nodes.literal(invocation, invocation)],
                             _expand_help(action, prog)))
            if rows:
                title = (group.title or "arguments").capitalize()
                section += nodes.rubric(title, title)
                section += _table(("argument", "meaning"), rows, (30, 70))
        if commands:
            section += nodes.rubric("commands", "Commands")
            section += _table(("command", "what it does"), commands, (30, 70))
        if parser.epilog:
            epilog = parser.epilog.strip("\n")
            section += nodes.literal_block(epilog, epilog, language="text")
        return [section, *subsections]


def _expand_help(action: argparse.Action, prog: str) -> str:
    """The action's help with argparse's ``%(...)s`` placeholders filled in."""
    params = {**vars(action), "prog": prog}
    if action.choices is not None:
        params["choices"] = ", ".join(map(str, action.choices))
    return (action.help or "") % params


class Hookspecs(_Directive):
    """The hook specification: versions, then one section per kind of hook."""

    def generate(self) -> list[nodes.Node]:
        from lrms import hookspecs

        marker = f"{hookspecs.PROJECT}_spec"
        head = self.section("Version and operation lists", "versions")
        self.parse_rst([f".. autodata:: lrms.hookspecs.{name}"
                        for name in ("API_VERSION", "OPERATIONS", "OPTIONAL_OPERATIONS")], head)
        result: list[nodes.Node] = [head]
        for group in hookspec_groups():
            section = self.section(group.title, group.title)
            section += _paragraph(group.intro)
            lines: list[str] = []
            for name in group.names:
                lines.append(f".. autofunction:: lrms.hookspecs.{name}")
                options = getattr(getattr(hookspecs, name), marker) or {}
                if options.get("firstresult"):
                    lines += ["", "   Called with ``firstresult=True``: the first non-None "
                              "result is the hook's result."]
                lines.append("")
            self.parse_rst(lines, section)
            result.append(section)
        return result


class Api(_Directive):
    """Autodoc of the public API, grouped as :data:`API_GROUPS` says."""

    def generate(self) -> list[nodes.Node]:
        try:
            groups = api_groups()
        except Exception as exc:  # a broken import must fail the build, not crash it
            log.warning("API reference: %s: %s", type(exc).__name__, exc,
                        location=self.get_location())
            return []
        result: list[nodes.Node] = []
        for group in groups:
            section = self.section(group.title, group.title)
            lines: list[str] = []
            for name in group.names:
                lines += list(_autodoc_lines(name))
            self.parse_rst(lines, section)
            result.append(section)
        return result


#: What the API reference says of public objects that carry no docstring of their own.
DATA_DOCS = {
    "lrms.API_VERSION": "The version of the hook contract this core implements "
                        "(see :doc:`hooks`).",
    "lrms.hookimpl": "The pluggy ``HookimplMarker`` of project ``lrms``: decorate a "
                     "backend's or an extension plugin's hook methods with ``@lrms.hookimpl`` "
                     "(``@lrms.hookimpl(wrapper=True)`` to wrap an operation).",
}


def _autodoc_lines(name: str) -> Iterator[str]:
    obj = _resolve(name)
    if inspect.ismodule(obj):
        yield f".. automodule:: {name}"
        yield "   :no-members:"
    elif inspect.isclass(obj):
        yield f".. autoclass:: {name}"
        yield "   :members:"
        if issubclass(obj, enum.Enum):
            yield "   :undoc-members:"
    elif inspect.isfunction(obj):
        yield f".. autofunction:: {name}"
    elif name in DATA_DOCS:
        yield f".. py:data:: {name}"
        if isinstance(obj, (str, int, tuple)):
            yield f"   :value: {obj!r}"
        yield ""
        yield f"   {DATA_DOCS[name]}"
    else:
        yield f".. autodata:: {name}"
    yield ""


# -- event handlers ------------------------------------------------------------------


def _dataclass_signature(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                         signature: str | None, return_annotation: str | None,
                         ) -> tuple[str | None, str | None] | None:
    """Show a dataclass field's ``default_factory`` as a call (``dict()``), not
    ``<factory>``, which is no Python and breaks the signature's parsing."""
    if what != "class" or not signature or not dataclasses.is_dataclass(obj):
        return None
    factories = [field.default_factory for field in dataclasses.fields(obj)
                 if field.init and field.default_factory is not dataclasses.MISSING]
    for factory in factories:
        label = getattr(factory, "__qualname__", "...")
        signature = signature.replace("<factory>", f"{label}()" if label != "<lambda>" else "...",
                                      1)
    return signature, return_annotation


def _drop_object_base(app: Sphinx, name: str, obj: Any, options: Any,
                      bases: list[type]) -> None:
    """No "Bases: object" line: every class has it."""
    if object in bases:
        bases.remove(object)


def _skip_inherited_builtin_doc(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                                lines: list[str]) -> None:
    """Drop the docstring a constant "inherits" from its type (``str``, ``tuple``)."""
    if what in ("data", "attribute") and not inspect.isclass(obj):
        doc = type(obj).__doc__
        if doc and inspect.cleandoc(doc).splitlines() == lines[:len(doc.splitlines())]:
            lines.clear()


def _attribute_path(obj: Any, names: Sequence[str]) -> Any:
    for name in names:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _python_lookup(target: str, module: str | None, cls: str | None) -> Any:
    """What ``target`` names in the module defining the object that mentions it,
    else as a dotted name under ``lrms`` (None if nothing)."""
    parts = target.split(".")
    if module:
        try:
            scope: Any = importlib.import_module(module)
        except ImportError:
            scope = None
        if scope is not None and cls:
            owner = getattr(scope, cls.split(".")[0], None)
            scope = sys.modules.get(getattr(owner, "__module__", None) or "", scope)
        found = _attribute_path(scope, parts) if scope is not None else None
        if found is not None:
            return found
    if parts[0] != "lrms":
        return None
    for end in range(len(parts), 0, -1):
        try:
            base = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        return _attribute_path(base, parts[end:])
    return None


def _resolve_python_name(app: Sphinx, env: Any, node: Any, contnode: nodes.Node) -> Any:
    """Resolve a reference to an lrms object by its Python meaning.

    ``:class:`Transport``` in a module that imports ``Transport`` links to the
    object documented under another name (``lrms.transport.Transport``);
    a type variable (``F``) becomes plain text.
    """
    if node.get("refdomain") != "py" or node.get("reftype") not in ("class", "obj", "data",
                                                                    "func", "exc"):
        return None
    obj = _python_lookup(node["reftarget"], node.get("py:module"), node.get("py:class"))
    if obj is None:
        return None
    if isinstance(obj, typing.TypeVar):
        return contnode
    canonical = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
    domain = env.get_domain("py")
    if canonical not in domain.objects:
        return None
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], canonical,
                               node, contnode)


def _generated_docs(env: Any) -> set[str]:
    docs: set[str] = env.domaindata.get("lrms_docs", {}).get("generated", set())
    return docs


def _outdated(app: Sphinx, env: Any, added: set[str], changed: set[str],
              removed: set[str]) -> list[str]:
    """Pages generated from the code are read on every build: the code may have changed."""
    return sorted(_generated_docs(env) - removed)


def _purge(app: Sphinx, env: Any, docname: str) -> None:
    _generated_docs(env).discard(docname)


def _merge(app: Sphinx, env: Any, docnames: set[str], other: Any) -> None:
    docs = env.domaindata.setdefault("lrms_docs", {"generated": set()})["generated"]
    docs |= _generated_docs(other) & docnames


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("lrms-config-options", ConfigOptions)
    app.add_directive("lrms-cli", CommandLine)
    app.add_directive("lrms-hookspecs", Hookspecs)
    app.add_directive("lrms-api", Api)
    app.connect("autodoc-process-signature", _dataclass_signature)
    app.connect("autodoc-process-docstring", _skip_inherited_builtin_doc)
    app.connect("env-get-outdated", _outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("autodoc-process-bases", _drop_object_base)
    app.connect("missing-reference", _resolve_python_name)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
