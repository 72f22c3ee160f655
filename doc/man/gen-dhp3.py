#!/usr/bin/env python3
"""Generate dhp(3) in scdoc from include/dhp.h: the header is the one
source of the API's documentation.  Every exported function appears with its
prototype and the doc comment above it (functions declared back to back
share it).  An exported function with no doc comment fails the build."""
import re, sys

header, intro, out = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(header).read()

# Tokens in order: section banners, comments, DHP_EXPORT declarations, and
# other declarations (typedefs/enums, which break comment sharing).
token = re.compile(
    r"/\* -{10,} \*/\s*/\* (?P<banner>[^\n]*?)\s*\*/\s*/\* -{10,} \*/"
    r"|(?P<comment>/\*.*?\*/)"
    r"|(?P<export>DHP_EXPORT[^;]*;)"
    r"|(?P<other>(typedef|enum|struct)[^;]*;)", re.S)

sections, current, pending, last_comment, undocumented = [], None, None, None, []
for m in token.finditer(text):
    if m.group("banner"):
        current = {"title": m.group("banner").strip(), "entries": []}
        sections.append(current)
        last_comment = None
    elif m.group("comment"):
        body = m.group("comment")[2:-2]
        lines = [re.sub(r"^\s*\* ?", "", l) for l in body.splitlines()]
        last_comment = "\n".join(lines).strip()
    elif m.group("export"):
        decl = " ".join(m.group("export").replace("DHP_EXPORT ", "").split())
        name = re.search(r"(\w+)\s*\(", decl).group(1)
        if current is None:
            continue
        if last_comment is None:
            undocumented.append(name)
        current["entries"].append((decl, last_comment))
        # A comment documents the declarations right after it; keep it for
        # a following declaration with no comment of its own.
    elif m.group("other"):
        last_comment = None

if undocumented:
    sys.exit("gen-dhp3: exported functions without a doc comment: " + ", ".join(undocumented))

with open(out, "w") as f:
    f.write(open(intro).read().rstrip() + "\n\n")
    for sec in sections:
        if not sec["entries"]:
            continue
        f.write("# %s\n\n" % sec["title"].upper())
        shown = None
        for decl, comment in sec["entries"]:
            f.write("```\n%s\n```\n\n" % decl)
            if comment and comment != shown:
                # scdoc: escape leading characters it would interpret.
                body = comment.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
                # A line starting with '-', '#' or '.' would be a list, a
                # heading or a roff request.
                body = "\n".join("\\" + l if l[:1] in "-#." and l else l for l in body.split("\n"))
                f.write(body + "\n\n")
                shown = comment
    f.write("# SEE ALSO\n\n*dhpd*(8), *dhpctl*(8), *dhpd.conf*(5)\n")
