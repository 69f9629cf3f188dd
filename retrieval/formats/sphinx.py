"""Sphinx's vocabulary for plain docutils: roles rendered as Sphinx shows them (`check()`), its directives
(registered once, at import: docutils' directive registry is its only hook for them), and its info fields
(`:param x:`, `:type x:`) laid out as Sphinx lays them out."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.parsers.rst.directives.misc import Class as _RstClass

# Role → how Sphinx shows its text. Object references are code; cross-references to pages, labels
# and terms read as plain link text; unknown roles (extlinks such as :issue:) read as their text.
ROLES: dict[str, str] = {
    **dict.fromkeys("class meth func attr exc obj data const mod type kbd file samp option envvar".split(), "code"),
    **dict.fromkeys("command program makevar".split(), "strong"),
    **dict.fromkeys("dfn mimetype".split(), "em"),
    **dict.fromkeys("ref doc term numref keyword token download any abbr guilabel menuselection".split(), "plain"),
}
_FIX_PARENS = {"meth", "func"}  # Sphinx adds "()" to function references
_TITLED = re.compile(r"^(.+?)\s*<([^<>]+)>$", re.S)  # :role:`title <target>`
_NAME = re.compile(r"[\w.]+")

DESCRIPTIONS = (
    "function method attribute class exception data describe object decorator decoratormethod property "
    "classmethod staticmethod type option envvar confval cmdoption"
).split()
CONTAINERS = {"class", "exception"}  # their attributes and methods are anchored under their name
UNANCHORED = {"describe", "object", "option", "cmdoption", "envvar", "confval"}  # no Python object id
_SIGNATURE_PREFIXES = ("await ", "async ", "class ", "classmethod ", "staticmethod ", "abstractmethod ", "property ")

_PARAMS = {"param", "parameter", "arg", "argument", "key", "keyword", "kwarg", "kwparam", "var", "ivar", "cvar"}
_TYPES = {"type", "vartype"}
_RAISES = {"raises", "raise", "except", "exception"}
_FIELD_LABELS = {"returns": "Returns", "return": "Returns", "rtype": "Return type", "yields": "Yields",
                 "yield": "Yields", "ytype": "Yield type", "meta": ""}  # fmt: skip


# ---------------------------------------------------------------- roles


def role_text(role: str, text: str) -> str:
    """A role's content as Sphinx shows it: `~a.b.c` → `c`, `title <target>` → `title`, `()` on functions."""
    text = " ".join(text.split())
    titled = _TITLED.match(text)
    if titled and titled.group(1).strip():
        return titled.group(1).strip()
    if role == "abbr":
        return text.split(" (", 1)[0]
    if role in ("guilabel", "menuselection"):
        text = text.replace("&&", "\0").replace("&", "").replace("\0", "&").replace("-->", "‣")
    text = text.lstrip("!")
    short = text.startswith("~")
    text = text.lstrip("~").lstrip(".")
    if short:
        text = text.rpartition(".")[2]
    if role in _FIX_PARENS and text and not text.endswith(")"):
        text += "()"
    return text


def role_node(name: str, text: str, rawsource: str) -> nodes.Node:
    """The inline node a Sphinx role (or any unknown role) becomes."""
    base = name.rpartition(":")[2]
    shown = role_text(base, text)
    style = ROLES.get(name) or ROLES.get(base, "plain")
    if style == "code":
        return nodes.literal(rawsource, shown)
    if style == "strong":
        return nodes.strong(rawsource, shown)
    if style == "em":
        return nodes.emphasis(rawsource, shown)
    return nodes.Text(shown)


# ---------------------------------------------------------------- nodes the directives make


class desc(nodes.Element):  # noqa: N801 - docutils names node classes by their tag
    """An object description (`.. function:: on_ready()`): `signature`, `name`, `objtype`."""


class versioned(nodes.Element):  # noqa: N801
    """`.. versionadded:: 2.0`: `label` ("New in version 2.0") and the explanation as children."""


class labelled(nodes.Element):  # noqa: N801
    """An admonition docutils does not have (`.. seealso::`): `label` and the content as children."""


class module_marker(nodes.Element):  # noqa: N801
    """`.. currentmodule:: discord`: where object anchors start from."""


# ---------------------------------------------------------------- directives


class _AnyOptions(dict[str, Callable[[str], Any]]):
    """Every option is accepted as written: Sphinx's directives take many, none of them change the text."""

    def __missing__(self, key: str) -> Callable[[str], Any]:
        return directives.unchanged


class _Directive(Directive):
    optional_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = _AnyOptions(noindex=directives.unchanged)

    def _parsed(self, node: nodes.Element) -> nodes.Element:
        if self.content:
            self.state.nested_parse(self.content, self.content_offset, node)
        return node


class _Keep(_Directive):
    """The directive's own output is elsewhere (autodoc) or decoration; its content, if any, is text."""

    def run(self) -> list[nodes.Node]:
        return [self._parsed(nodes.container())]  # even empty: a label before it is its own, not the next one's


class _Drop(_Directive):
    """Nothing a reader of the page reads as text (a toctree, an included file, an index entry)."""

    def run(self) -> list[nodes.Node]:
        return [] if self.name in _INVISIBLE else [nodes.container()]


class _Code(_Directive):
    """`.. code-block:: python`: the content verbatim."""

    def run(self) -> list[nodes.Node]:
        code = "\n".join(self.content)
        return [nodes.literal_block(code, code)] if code.strip() else []


class _Module(_Directive):
    has_content = False

    def run(self) -> list[nodes.Node]:
        return [module_marker(module=self.arguments[0].strip() if self.arguments else "")]


class _Describe(_Directive):
    """`.. function:: on_ready()` and its kin: a sub-section headed by the signature."""

    def run(self) -> list[nodes.Node]:
        lines = [line.strip().rstrip("\\").strip() for line in (self.arguments or [""])[0].split("\n")]
        lines = [line for line in lines if line]
        node = desc(signature=", ".join(lines), name=object_name(lines[0] if lines else ""),
                    objtype=self.name.rpartition(":")[2])  # fmt: skip
        return [self._parsed(node)]


class _Version(_Directive):
    """`.. versionadded:: 2.0 [explanation]`: a note labelled as Sphinx labels it."""

    optional_arguments = 2
    labels = {"versionadded": "New in version", "versionchanged": "Changed in version",
              "deprecated": "Deprecated since version", "versionremoved": "Removed in version"}  # fmt: skip

    def run(self) -> list[nodes.Node]:
        version = self.arguments[0] if self.arguments else ""
        node = versioned(label=f"{self.labels[self.name]} {version}".strip())
        if len(self.arguments) > 1:
            inline, _ = self.state.inline_text(self.arguments[1], self.lineno)
            node += nodes.paragraph(self.arguments[1], "", *inline)
        return [self._parsed(node)]


class _Labelled(_Directive):
    labels = {"seealso": "See also", "todo": "Todo"}

    def run(self) -> list[nodes.Node]:
        node = labelled(label=self.labels[self.name])
        if self.arguments:  # `.. seealso:: text` on the directive line
            inline, _ = self.state.inline_text(self.arguments[0], self.lineno)
            node += nodes.paragraph(self.arguments[0], "", *inline)
        return [self._parsed(node)]


def object_name(signature: str) -> str:
    """The object a signature describes: `await fetch(x)` → `fetch`, `Intents.members` as written."""
    signature = signature.strip()
    changed = True
    while changed:
        changed = False
        for prefix in _SIGNATURE_PREFIXES:
            if signature.startswith(prefix):
                signature, changed = signature[len(prefix) :].lstrip(), True
    match = _NAME.match(signature)
    return match.group(0).strip(".") if match else ""


_KEEP = (
    "only exception_hierarchy glossary hlist tab tabs centered autoclass autoexception autofunction automethod "
    "autodata autoattribute automodule autodecorator autoproperty autosummary"
).split()
_INVISIBLE = {"index", "highlight", "tabularcolumns", "sectionauthor", "moduleauthor", "codeauthor", "default-domain"}
_DROP = (
    "toctree attributetable literalinclude highlight index tabularcolumns sectionauthor moduleauthor "
    "codeauthor default-domain py:module-attribute"
).split()


def _register() -> None:
    """Register Sphinx's directives with docutils (once, at import)."""
    table: dict[str, type[Directive]] = {name: _Keep for name in _KEEP}
    table.update({name: _Drop for name in _DROP})
    table.update({name: _Code for name in ("code-block", "sourcecode", "productionlist")})
    table.update({name: _Module for name in ("currentmodule", "module", "py:currentmodule", "py:module")})
    table.update({name: _Version for name in _Version.labels})
    table.update({name: _Labelled for name in _Labelled.labels})
    for name in DESCRIPTIONS:
        table[name] = table["py:" + name] = _Describe
    table["rst-class"] = _RstClass  # Sphinx's name for docutils' `class`, which describes a Python class
    for name, directive in table.items():
        directives.register_directive(name, directive)


_register()


# ---------------------------------------------------------------- info fields


def _field_parts(name: str) -> tuple[str, list[str]]:
    parts = name.split()
    return (parts[0].lower() if parts else ""), parts[1:]


def field_label(name: str) -> str | None:
    """What a field's line starts with (`member`, `Returns`, `Forbidden`), or None for `:type x:`."""
    key, rest = _field_parts(name)
    if key in _TYPES and rest:
        return None
    if (key in _PARAMS or key in _RAISES) and rest:
        return rest[-1]
    if key in _FIELD_LABELS:
        return _FIELD_LABELS[key] or None
    return " ".join(name.split())


def field_argument(name: str) -> str | None:
    """The parameter a `:param x:` field is about, to join its `:type x:`."""
    key, rest = _field_parts(name)
    return rest[-1] if key in _PARAMS and rest else None


def field_types(field_list: nodes.Element) -> dict[str, nodes.Element]:
    """The `:type x:` bodies (and `:param int x:` types) of a field list, by parameter."""
    types: dict[str, nodes.Element] = {}
    for field in field_list.children:
        if not isinstance(field, nodes.field) or len(field.children) < 2:
            continue
        key, rest = _field_parts(field.children[0].astext())
        if key in _TYPES and rest and isinstance(field.children[1], nodes.Element):
            types[rest[-1]] = field.children[1]
        elif key in _PARAMS and len(rest) >= 2:
            types.setdefault(rest[-1], nodes.paragraph("", " ".join(rest[:-1])))
    return types
