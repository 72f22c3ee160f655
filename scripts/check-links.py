#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every relative link of README.md and doc/*.md resolves inside the
repository: the file exists, and a #fragment names one of its headings.
A clone must find everything its documents point to (issue 13)."""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..'))
LINK = re.compile(r'(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)|!\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^\s*(```|~~~)')


def anchors(path):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to '-'."""
    out = set()
    fenced = False
    for line in open(path, encoding='utf-8'):
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if fenced or not m:
            continue
        text = re.sub(r'`|\*\*|\*|_(?=\w)|(?<=\w)_', '', m.group(1))
        text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)
        a = re.sub(r'[^\w\- ]', '', text.lower()).replace(' ', '-')
        out.add(a)
    return out


def links(path):
    fenced = False
    for n, line in enumerate(open(path, encoding='utf-8'), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = re.sub(r'`[^`]*`', '', line)  # code spans are not links
        for m in LINK.finditer(line):
            yield n, m.group(1) or m.group(2)


def main():
    docs = [os.path.join(ROOT, 'README.md')]
    docdir = os.path.join(ROOT, 'doc')
    docs += sorted(os.path.join(docdir, f) for f in os.listdir(docdir) if f.endswith('.md'))
    bad = 0
    for doc in docs:
        if not os.path.exists(doc):
            continue
        for n, target in links(doc):
            if re.match(r'^[a-z][a-z0-9+.-]*:', target):  # http:, https:, mailto:
                continue
            path, _, frag = target.partition('#')
            dest = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
            rel = os.path.relpath(doc, ROOT)
            if not dest.startswith(ROOT + os.sep) and dest != ROOT:
                print(f'{rel}:{n}: {target}: outside the repository')
                bad += 1
            elif not os.path.exists(dest):
                print(f'{rel}:{n}: {target}: no such file')
                bad += 1
            elif frag and dest.endswith('.md') and frag not in anchors(dest):
                print(f'{rel}:{n}: {target}: no heading #{frag} there')
                bad += 1
    if bad:
        print(f'{bad} link(s) do not resolve inside the repository')
        return 1
    print(f'every relative link of {len(docs)} documents resolves')
    return 0


if __name__ == '__main__':
    sys.exit(main())
