#!/usr/bin/env python3
"""scripts/lib/doc-links.py: owns the link check of the documentation (scripts/docs runs it after
`mdbook build docs`; mdBook 0.4 without its default features checks no links).

Every relative link, image and reference definition in README.md, ARCHITECTURE.md and the book's
chapters (docs/src/**/*.md), outside code, must name a file or directory that exists inside the
repository, and a `#anchor` must name a heading of the Markdown file it points into (or of the
same file), with the id computed as mdBook 0.4 computes it: the heading's text without markup,
lower-cased, whitespace to '-', every character but letters, digits, '-' and '_' dropped, and
'-1', '-2' ... after repeats. (GitHub's ids for README.md and ARCHITECTURE.md come out the same
for the headings these files have.) A chapter that links to a .md file in docs/src not listed in
SUMMARY.md fails too: mdBook makes no page for it. Links with a scheme (https:, mailto:) are not
followed.
    python3 scripts/lib/doc-links.py REPO
Prints one line per broken link (FILE:LINE: TARGET: why) and exits 1 when there is one.
"""
import os
import re
import sys
from urllib.parse import unquote

SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s)]*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFDEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.M)
HREF = re.compile(r"""<a\s[^>]*?href\s*=\s*["']([^"']*)["']""", re.I)
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
HEADING_ID = re.compile(r"\s*\{#([^}\s]+)\}\s*$")


def blank_code(text):
    """The text with fenced blocks and code spans blanked (line numbers kept), for finding links."""
    out, fence = [], None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip().strip(fence[0]):
                fence = None
            out.append("")
        elif m:
            fence = m.group(1)
            out.append("")
        else:
            out.append(line)
    return CODE_SPAN.sub(lambda m: "\n" * m.group(0).count("\n"), "\n".join(out))


def heading_text(raw):
    """A heading's text as mdBook renders it, tags stripped: markup gone, code kept as text."""
    parts = []
    last = 0
    for m in CODE_SPAN.finditer(raw):
        parts.append(plain(raw[last:m.start()]))
        parts.append(m.group(2))
        last = m.end()
    parts.append(plain(raw[last:]))
    return "".join(parts)


def plain(s):
    s = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", s)             # images render as a tag: nothing
    s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)         # links: their text
    s = re.sub(r"<[^>]*>", "", s)                          # raw HTML tags
    s = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", s)           # backslash escapes
    s = re.sub(r"(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])", "", s)  # _emphasis_, not snake_case
    return s.replace("*", "")


def normalize_id(text):
    """mdBook 0.4's utils::normalize_id over id_from_content's trimmed text."""
    text = text.strip().lstrip("#").strip()
    out = []
    for ch in text:
        if ch.isalnum() or ch in "_-":
            out.append(ch.lower() if ch.isascii() else ch)
        elif ch.isspace():
            out.append("-")
    return "".join(out)


_anchors = {}


def anchors(path):
    """The heading ids of a Markdown file, repeats numbered as mdBook numbers them."""
    if path in _anchors:
        return _anchors[path]
    ids, counts, fence = set(), {}, None
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            m = FENCE.match(line)
            if fence:
                if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip().strip(fence[0]):
                    fence = None
                continue
            if m:
                fence = m.group(1)
                continue
            h = ATX.match(line)
            if not h:
                continue
            raw = h.group(2) or ""
            explicit = HEADING_ID.search(raw)
            if explicit:
                ids.add(explicit.group(1))
                continue
            base = normalize_id(heading_text(raw))
            n = counts.get(base, 0)
            counts[base] = n + 1
            ids.add(base if n == 0 else f"{base}-{n}")
    _anchors[path] = ids
    return ids


def summary_chapters(src):
    """The .md files SUMMARY.md names, as absolute paths."""
    path = os.path.join(src, "SUMMARY.md")
    text = blank_code(open(path, encoding="utf-8").read())
    return {os.path.normpath(os.path.join(src, unquote(m.group(1).strip("<>")).split("#")[0]))
            for m in INLINE.finditer(text) if m.group(1)}


def check_file(repo, path, chapters, src):
    problems, checked = [], 0
    text = blank_code(open(path, encoding="utf-8").read())
    targets = [(m.start(), m.group(1).strip("<>")) for m in INLINE.finditer(text)]
    targets += [(m.start(), m.group(1).strip("<>")) for m in REFDEF.finditer(text)]
    targets += [(m.start(), m.group(1)) for m in HREF.finditer(text)]
    rel = os.path.relpath(path, repo)
    for pos, target in sorted(targets):
        line = text.count("\n", 0, pos) + 1
        if not target:
            problems.append(f"{rel}:{line}: empty link target")
            continue
        if SCHEME.match(target):
            continue
        checked += 1
        file_part, _, anchor = target.partition("#")
        file_part = unquote(file_part)
        if file_part.startswith("/"):
            problems.append(f"{rel}:{line}: {target}: an absolute path; make it relative to {os.path.dirname(rel) or '.'}")
            continue
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if os.path.relpath(dest, repo).startswith(".."):
            problems.append(f"{rel}:{line}: {target}: outside the repository")
            continue
        if not os.path.exists(dest):
            problems.append(f"{rel}:{line}: {target}: no such file or directory ({os.path.relpath(dest, repo)})")
            continue
        in_book = path.startswith(src + os.sep)
        if (in_book and dest.endswith(".md") and dest.startswith(src + os.sep)
                and dest not in chapters and os.path.basename(dest) != "SUMMARY.md"):
            problems.append(f"{rel}:{line}: {target}: not a chapter in SUMMARY.md, so mdBook makes no page for it")
            continue
        if anchor:
            if not dest.endswith(".md") or os.path.isdir(dest):
                problems.append(f"{rel}:{line}: {target}: an anchor into something that is not a Markdown file")
            elif anchor not in anchors(dest):
                problems.append(f"{rel}:{line}: {target}: no heading with id '{anchor}' in {os.path.relpath(dest, repo)}")
    return problems, checked


def main():
    if len(sys.argv) != 2:
        print("usage: python3 scripts/lib/doc-links.py REPO", file=sys.stderr)
        return 2
    repo = os.path.realpath(sys.argv[1])
    src = os.path.join(repo, "docs", "src")
    files = [os.path.join(repo, "README.md"), os.path.join(repo, "ARCHITECTURE.md")]
    for d, _, names in os.walk(src):
        files += [os.path.join(d, n) for n in sorted(names) if n.endswith(".md")]
    chapters = summary_chapters(src)
    problems, links = [], 0
    for c in sorted(chapters):
        if not os.path.isfile(c):
            problems.append(f"docs/src/SUMMARY.md: {os.path.relpath(c, src)}: no such chapter")
    for f in files[2:]:
        if f not in chapters and os.path.basename(f) != "SUMMARY.md":
            problems.append(f"{os.path.relpath(f, repo)}: not listed in docs/src/SUMMARY.md")
    for f in files:
        p, n = check_file(repo, f, chapters, src)
        problems += p
        links += n
    for p in problems:
        print(p)
    if problems:
        print(f"doc links: {len(problems)} problem(s) in {len(files)} files", file=sys.stderr)
        return 1
    print(f"doc links: {links} relative links in {len(files)} files, every one resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
