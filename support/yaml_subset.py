"""A reader for the YAML our Home Assistant examples use, for tests (PyYAML is not a dependency).

Block mappings and sequences by indentation, ``- key: value`` items, plain and
quoted scalars, block scalars (``|``, ``|-``, ``>``, ``>-``), comments, and the
``!input name`` tag of blueprints (read as :class:`Input`).  Anything else
(flow collections, anchors, other tags, tabs) raises :class:`YamlSubsetError`,
so an example cannot pass by using what this reader does not understand.
Scalars stay strings except ``true``/``false`` and integers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class YamlSubsetError(ValueError):
    pass


@dataclass(frozen=True)
class Input:
    """A blueprint's ``!input name``."""

    name: str


_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*|\"[^\"]*\"|'[^']*'):(?:\s+(.*))?$")


def load(text: str):
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise YamlSubsetError(f"line {number}: tab in indentation")
        lines.append((number, raw))
    reader = _Reader(lines)
    value = reader.block(0)
    reader.skip_blank()
    if reader.i < len(reader.lines):
        number, raw = reader.lines[reader.i]
        raise YamlSubsetError(f"line {number}: unexpected {raw.strip()!r}")
    return value


def _strip_comment(s: str) -> str:
    out, quote = [], None
    for i, ch in enumerate(s):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'" and (i == 0 or s[i - 1] in " :-"):
            quote = ch
        elif ch == "#" and (i == 0 or s[i - 1] == " "):
            break
        out.append(ch)
    return "".join(out).rstrip()


class _Reader:
    def __init__(self, lines):
        self.lines = lines
        self.i = 0

    def skip_blank(self):
        while self.i < len(self.lines) and not _strip_comment(self.lines[self.i][1]).strip():
            self.i += 1

    def peek(self):
        self.skip_blank()
        if self.i >= len(self.lines):
            return None
        number, raw = self.lines[self.i]
        content = _strip_comment(raw)
        return number, len(content) - len(content.lstrip()), content.strip()

    def block(self, indent: int):
        head = self.peek()
        if head is None or head[1] < indent:
            return None
        _, col, content = head
        if content.startswith("- ") or content == "-":
            return self.sequence(col)
        return self.mapping(col)

    def sequence(self, col: int):
        items = []
        while True:
            head = self.peek()
            if head is None or head[1] != col or not (head[2].startswith("- ") or head[2] == "-"):
                if head is not None and head[1] > col:
                    raise YamlSubsetError(f"line {head[0]}: bad indentation")
                return items
            number, _, content = head
            rest = content[1:].strip()
            if not rest:
                self.i += 1
                items.append(self.block(col + 1))
            elif _KEY.match(rest):
                # "- key: value" starts a mapping whose keys sit at col + 2
                raw_number, raw = self.lines[self.i]
                self.lines[self.i] = (raw_number, raw[:col] + " " + raw[col + 1:])
                items.append(self.mapping(col + 2))
            else:
                self.i += 1
                items.append(self.scalar(rest, number, col))

    def mapping(self, col: int):
        out = {}
        while True:
            head = self.peek()
            if head is None or head[1] < col:
                return out
            number, here, content = head
            if here != col:
                raise YamlSubsetError(f"line {number}: bad indentation")
            if content.startswith("- "):
                return out
            m = _KEY.match(content)
            if not m:
                raise YamlSubsetError(f"line {number}: expected 'key: value', got {content!r}")
            key, rest = m.group(1).strip("\"'"), (m.group(2) or "").strip()
            if key in out:
                raise YamlSubsetError(f"line {number}: key {key!r} twice")
            self.i += 1
            if not rest:
                nxt = self.peek()
                if nxt is not None and (nxt[1] > col or (nxt[1] == col and nxt[2].startswith("- "))):
                    out[key] = self.block(nxt[1])
                else:
                    out[key] = None
            else:
                out[key] = self.scalar(rest, number, col)

    def scalar(self, text: str, number: int, col: int):
        if text in ("|", "|-", ">", ">-"):
            return self.block_scalar(text, col)
        if text.startswith("!input "):
            return Input(text[len("!input "):].strip())
        if text[0] in "[{&*!%@`":
            raise YamlSubsetError(f"line {number}: {text[0]!r} is beyond this reader")
        if text[0] in "\"'":
            if len(text) < 2 or text[-1] != text[0]:
                raise YamlSubsetError(f"line {number}: unterminated quote")
            return text[1:-1]
        if text in ("true", "false"):
            return text == "true"
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        return text

    def block_scalar(self, style: str, col: int) -> str:
        body = []
        indent = None
        while self.i < len(self.lines):
            _, raw = self.lines[self.i]
            if raw.strip() and (len(raw) - len(raw.lstrip())) <= col:
                break
            if raw.strip():
                here = len(raw) - len(raw.lstrip())
                indent = here if indent is None else min(indent, here)
            body.append(raw)
            self.i += 1
        lines = [ln[indent:] if indent is not None else "" for ln in body]
        while lines and not lines[-1].strip():
            lines.pop()
        text = "\n".join(lines) if style.startswith("|") else " ".join(ln.strip() for ln in lines)
        return text if style.endswith("-") else text + "\n"
