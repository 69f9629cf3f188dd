"""Links to sources: a quote's page (and section) from a `QA_SOURCE_URL` template, and the links inside
a quote made absolute, so that readers can follow them from Discord."""

from __future__ import annotations

import posixpath
from dataclasses import replace
from urllib.parse import quote as url_quote
from urllib.parse import urljoin, urlsplit

from .errors import ConfigError
from .model import Quote
from .structure import Mark

FIELDS = ("path", "path_without_suffix", "anchor")
_PAGE_SUFFIXES = (".md", ".markdown", ".mdx", ".rst", ".txt", ".html", ".htm")


def check_template(template: str) -> str:
    """The template, or ConfigError saying what is wrong with it."""
    if not template.startswith(("https://", "http://")):
        raise ConfigError("QA_SOURCE_URL must start with https:// or http://.")
    try:
        template.format(path="p", path_without_suffix="p", anchor="a")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"QA_SOURCE_URL may use only {{path}}, {{path_without_suffix}} and {{anchor}} ({exc})."
        ) from exc
    if "{path}" not in template and "{path_without_suffix}" not in template:
        raise ConfigError("QA_SOURCE_URL needs {path} or {path_without_suffix}.")
    return template


def page_url(template: str, path: str, anchor: str = "") -> str:
    """The URL of a document (at a section, when the template has {anchor} and there is one)."""
    stem = path.rsplit(".", 1)[0] if "." in posixpath.basename(path) else path
    if stem.endswith("/index") or stem == "index":  # MkDocs and Sphinx serve folder/index at folder/
        stem = stem[: -len("index")]
    url = template.format(path=url_quote(path), path_without_suffix=url_quote(stem), anchor=url_quote(anchor))
    if not anchor and "{anchor}" in template:  # no section: drop the empty fragment, not the page
        url = url.split("#", 1)[0] if template.index("{anchor}") > template.find("#") >= 0 else url
    return url


def absolute(href: str, source: str, template: str | None) -> str | None:
    """A mark's link made absolute: kept when it already is; resolved against the document's own
    URL (a link to another page of the folder by its path) when a template is configured; else None."""
    if urlsplit(href).scheme in ("http", "https"):
        return href
    if not template or href.startswith(("mailto:", "javascript:", "data:")):
        return None
    target, _, fragment = href.partition("#")
    if not target:
        return page_url(template, source, fragment)
    if not target.startswith("/") and target.lower().endswith(_PAGE_SUFFIXES):
        path = posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
        return None if path.startswith("..") else page_url(template, path, fragment)
    return urljoin(page_url(template, source), href)


def with_links(quote: Quote, template: str | None) -> Quote:
    """The quote with its `url` filled in and its links absolute (or dropped when they go nowhere)."""
    marks = tuple(
        _link(m, quote.source, template) if m.kind == "link" else m for m in quote.marks
    )
    url = page_url(template, quote.source, quote.anchor) if template else None
    return replace(quote, url=url, marks=tuple(m for m in marks if m is not None))


def _link(mark: Mark, source: str, template: str | None) -> Mark | None:
    """A link mark with an absolute target, or None when it has none."""
    href = absolute(mark.href, source, template)
    return replace(mark, href=href) if href else None
