"""SQL expressions compared by meaning where the server prints one meaning two ways.

PostgreSQL stores an expression (a default, a CHECK, an index predicate) as a parse tree and
prints it back on demand; a dump holds the printed text, and the restore parses that text again
into a slightly different tree. The one case seen on real schemas: an `IN` list on a `varchar`
column (Django's `Q(status__in=[...])`) is stored as one cast of the whole array and, after a
`pg_dump`/`pg_restore`, as a cast of each element::

    ((status)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[]))
    ((status)::text = ANY (ARRAY[('a'::character varying)::text, ('b'::character varying)::text]))

(`pg_get_constraintdef(oid, true)` prints the same pair without the redundant parentheses.)
:func:`normalise` rewrites both to one form with two rules that keep the meaning:

1. parentheses around a single operand of a cast go: `(status)::text` is `status::text`;
2. a cast of a non-empty array literal is the cast of each element: `ARRAY[a, b]::text[]` is
   `ARRAY[a::text, b::text]` (PostgreSQL coerces an array element by element).

Whitespace outside quotes is not significant; nothing else is rewritten, so two expressions that
differ in anything else (a label, an operator, a type) still differ. The rules are proven on every
form `tests/test_schema_roundtrip.py` produces on PostgreSQL 15 and 16.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_TOKEN = re.compile(r"""
    (?P<string>(?:[EeBbXxNn]|[Uu]&)?'(?:[^']|'')*')
  | (?P<ident>"(?:[^"]|"")*")
  | (?P<cast>::)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*)
  | (?P<open>[(\[])
  | (?P<close>[)\]])
  | (?P<comma>,)
  | (?P<dot>\.)
  | (?P<space>\s+)
  | (?P<op>[^\s'"(\[)\],.:A-Za-z0-9_]+|:)
""", re.VERBOSE)

_CLOSING = {"(": ")", "[": "]"}
#: words that continue a type name after its first word (`character varying`, `timestamp with time zone`)
_TYPE_WORDS = {"varying", "precision", "with", "without", "time", "zone"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


@dataclass(frozen=True)
class _Group:
    """A bracketed part: `(...)` or `[...]`."""

    open: str
    items: tuple[_Node, ...]


_Node = _Token | _Group


def _tokens(text: str) -> list[_Token]:
    found = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "op"
        if kind != "space":
            found.append(_Token(kind, match.group()))
    return found


def _tree(tokens: list[_Token]) -> tuple[_Node, ...] | None:
    """Tokens nested by their brackets; None when the brackets do not balance."""
    stack: list[tuple[str, list[_Node]]] = [("", [])]
    for token in tokens:
        if token.kind == "open":
            stack.append((token.text, []))
        elif token.kind == "close":
            opened, items = stack.pop()
            if not stack or _CLOSING.get(opened) != token.text:
                return None
            stack[-1][1].append(_Group(opened, tuple(items)))
        else:
            stack[-1][1].append(token)
    return tuple(stack[0][1]) if len(stack) == 1 else None


def _is(node: _Node | None, kind: str, text: str | None = None) -> bool:
    return isinstance(node, _Token) and node.kind == kind and (text is None or node.text.upper() == text)


def _group(node: _Node | None, opened: str) -> bool:
    return isinstance(node, _Group) and node.open == opened


def _type_end(items: tuple[_Node, ...] | list[_Node], start: int) -> int:
    """Where the type name starting at `items[start]` (just after `::`) ends: `text`,
    `character varying(10)[]`, `public.mood`, `timestamp(3) with time zone`."""
    pos = start
    if not (_is(_at(items, pos), "word") or _is(_at(items, pos), "ident")):
        return start
    pos += 1
    while _is(_at(items, pos), "dot") and (_is(_at(items, pos + 1), "word") or _is(_at(items, pos + 1), "ident")):
        pos += 2
    while True:
        node = _at(items, pos)
        continues = isinstance(node, _Token) and node.kind == "word" and node.text.lower() in _TYPE_WORDS
        if not (continues or _group(node, "(")):  # a word of the name, or a modifier: varchar(10)
            break
        pos += 1
    while _group(_at(items, pos), "[") and not _items(_at(items, pos)):
        pos += 1
    return pos


def _at(items: tuple[_Node, ...] | list[_Node], pos: int) -> _Node | None:
    return items[pos] if 0 <= pos < len(items) else None


def _items(node: _Node | None) -> tuple[_Node, ...]:
    return node.items if isinstance(node, _Group) else ()


def _primary_end(items: tuple[_Node, ...] | list[_Node], start: int) -> int:
    """Where a single operand starting at `items[start]` ends (before any cast), else `start`:
    a literal, a name (dotted), a function call, an ARRAY[...] or a parenthesised expression."""
    node = _at(items, start)
    if _is(node, "string") or _is(node, "number") or _group(node, "("):
        return start + 1
    if _is(node, "word", "ARRAY") and _group(_at(items, start + 1), "["):
        return start + 2
    if _is(node, "word") or _is(node, "ident"):
        pos = start + 1
        while _is(_at(items, pos), "dot") and (_is(_at(items, pos + 1), "word") or _is(_at(items, pos + 1), "ident")):
            pos += 2
        if _group(_at(items, pos), "("):
            pos += 1
        return pos
    return start


def _single_operand(items: tuple[_Node, ...] | list[_Node]) -> bool:
    """`items` is one operand with any number of casts: `status`, `'a'::character varying`."""
    pos = _primary_end(items, 0)
    if pos == 0:
        return False
    while _is(_at(items, pos), "cast"):
        end = _type_end(items, pos + 1)
        if end == pos + 1:
            return False
        pos = end
    return pos == len(items)


def _normalised(items: tuple[_Node, ...]) -> list[_Node]:
    # inside out: each group first, then this level's casts
    nodes: list[_Node] = [_Group(n.open, tuple(_normalised(n.items))) if isinstance(n, _Group) else n for n in items]
    out: list[_Node] = []
    for pos, node in enumerate(nodes):
        # rule 1: (operand)::type is operand::type, for parentheses that only group: not a call's
        # arguments (`round(f::numeric)::text` is not `round(f)::numeric::text`) nor a type's
        # modifier (`character varying(3)::text`), which follow a name
        grouping = pos == 0 or _is(nodes[pos - 1], "comma") or _is(nodes[pos - 1], "op")
        if grouping and _group(node, "(") and _is(_at(nodes, pos + 1), "cast") and _single_operand(_items(node)):
            out.extend(_items(node))
        else:
            out.append(node)
    return _distribute_array_casts(out)


def _distribute_array_casts(nodes: list[_Node]) -> list[_Node]:
    out: list[_Node] = []
    pos = 0
    while pos < len(nodes):
        array, cast = _at(nodes, pos + 1), _at(nodes, pos + 2)
        if _is(nodes[pos], "word", "ARRAY") and _group(array, "[") and _items(array) and _is(cast, "cast"):
            end = _type_end(nodes, pos + 3)
            type_ = nodes[pos + 3:end]
            # exactly one trailing [] and no nested ARRAY[...] elements: a one-dimensional array
            if (len(type_) >= 2 and _group(type_[-1], "[") and not _group(type_[-2], "[")
                    and not any(_is(n, "word", "ARRAY") for n in _items(array))):
                element_type = type_[:-1]
                elements: list[_Node] = []
                for number, element in enumerate(_split(_items(array))):
                    if number:
                        elements.append(_Token("comma", ","))
                    operand = element if _single_operand(element) else [_Group("(", tuple(element))]
                    elements += [*operand, _Token("cast", "::"), *element_type]
                out += [nodes[pos], _Group("[", tuple(elements))]
                pos = end
                continue
        out.append(nodes[pos])
        pos += 1
    return out


def _split(items: tuple[_Node, ...]) -> list[list[_Node]]:
    parts: list[list[_Node]] = [[]]
    for node in items:
        if _is(node, "comma"):
            parts.append([])
        else:
            parts[-1].append(node)
    return parts


def _render(items: tuple[_Node, ...] | list[_Node]) -> str:
    return " ".join(f"{n.open} {_render(n.items)} {_CLOSING[n.open]}" if isinstance(n, _Group) else n.text
                    for n in items)


@lru_cache(maxsize=4096)
def normalise(expression: str) -> str:
    """One text per meaning, for comparing: the two rules of this module applied, tokens joined by
    single spaces. An expression whose brackets do not balance comes back with its whitespace
    squashed only."""
    tree = _tree(_tokens(expression))
    if tree is None:
        return " ".join(expression.split())
    return _render(_normalised(tree))


def same_expression(a: object, b: object) -> bool:
    """Whether two printed expressions (or None) mean the same."""
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        return normalise(a) == normalise(b)
    return False
