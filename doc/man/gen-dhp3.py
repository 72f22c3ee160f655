#!/usr/bin/env python3
"""Generate dhp(3) in scdoc from include/dhp.h: the header is the one
source of the API's documentation.  Every exported function appears with its
prototype and the doc comment above it (functions declared back to back
share it).  An exported function with no doc comment fails the build.

  gen-dhp3.py HEADER INTRO OUT.scd        the grouped page, dhp(3)
  gen-dhp3.py --list HEADER               the exported functions, one a line
  gen-dhp3.py --pages HEADER VERSION OUTDIR
                                          one roff page per function, so that
                                          `man dhp_open` finds its own page"""
import os, re, sys

mode = "grouped"
if sys.argv[1] in ("--list", "--pages"):
    mode = sys.argv.pop(1)
header = sys.argv[1]
text = open(header).read()

# Tokens in order: section banners, comments, DHP_EXPORT declarations, and
# other declarations (typedefs/enums, which break comment sharing).
token = re.compile(
    r"/\* -{10,} \*/\s*/\* (?P<banner>[^\n]*?)\s*\*/\s*/\* -{10,} \*/"
    r"|(?P<comment>/\*.*?\*/)"
    r"|(?P<export>^DHP_EXPORT[^;]*;)"
    r"|(?P<other>(typedef|enum|struct)[^;]*;)", re.S | re.M)

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
        current["entries"].append((decl, last_comment, name))
        # A comment documents the declarations right after it; keep it for
        # a following declaration with no comment of its own.
    elif m.group("other"):
        last_comment = None

if undocumented:
    sys.exit("gen-dhp3: exported functions without a doc comment: " + ", ".join(undocumented))


def roff(line):
    line = line.replace("\\", "\\e")
    return "\\&" + line if line[:1] in ".'" else line


def summary(comment, names):
    """The NAME line: the comment's first sentence without "name - "."""
    first = " ".join(comment.split())
    first = re.sub(r"^(\w+(, )?)+ - ", "", first)
    m = re.search(r"\.(\s|$)", first)
    first = first[:m.start()] if m else first
    return first if len(first) <= 90 else first[:first.rfind(" ", 0, 87)] + "..."


def pages(version, outdir):
    for sec in sections:
        groups = []  # declarations that share one comment
        for decl, comment, name in sec["entries"]:
            if groups and comment == groups[-1][0]:
                groups[-1][1].append((decl, name))
            else:
                groups.append((comment, [(decl, name)]))
        for comment, decls in groups:
            names = [n for _, n in decls]
            for name in names:
                with open(os.path.join(outdir, name + ".3"), "w") as f:
                    f.write('.TH %s 3 "" "dhp %s" "dhp library functions"\n' % (name.upper(), version))
                    f.write(".SH NAME\n%s \\- %s\n" % (", ".join(names), roff(summary(comment, names))))
                    f.write(".SH SYNOPSIS\n.nf\n.B #include <dhp.h>\n.PP\n")
                    f.write("".join(roff(d) + "\n" for d, _ in decls))
                    f.write(".fi\n.PP\nLink with \\fI-ldhp\\fR (\\fIpkg-config --libs dhp\\fR).\n")
                    f.write(".SH DESCRIPTION\n.nf\n")
                    f.write("".join(roff(l) + "\n" for l in comment.split("\n")))
                    f.write(".fi\n.SH SEE ALSO\n.BR dhp (3)\n(section \\(lq%s\\(rq),\n.BR dhpd (8),\n.BR dhpctl (1)\n"
                            % roff(sec["title"]))


if mode == "--list":
    for sec in sections:
        for _, _, name in sec["entries"]:
            print(name)
    sys.exit(0)
if mode == "--pages":
    pages(sys.argv[2], sys.argv[3])
    sys.exit(0)

def literal_indented(body, comment):
    """scdoc wants tabs for indentation: indented runs (tables, lists in the
    header's comments) become literal blocks, from the unescaped text."""
    raw, out, block = comment.split("\n"), [], False
    for esc, orig in zip(body.split("\n"), raw):
        indented = orig[:1] in (" ", "\t") and orig.strip()
        if indented and not block:
            out.append("```")
            block = True
        elif not indented and block and orig.strip():
            out.append("```")
            block = False
        out.append(orig if block else esc)
    if block:
        out.append("```")
    return "\n".join(out)


intro, out = sys.argv[2], sys.argv[3]
with open(out, "w") as f:
    f.write(open(intro).read().rstrip() + "\n\n")
    for sec in sections:
        if not sec["entries"]:
            continue
        f.write("# %s\n\n" % sec["title"].upper())
        shown = None
        for decl, comment, _ in sec["entries"]:
            f.write("```\n%s\n```\n\n" % decl)
            if comment and comment != shown:
                # scdoc: escape leading characters it would interpret.
                body = comment.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
                # A line starting with '-', '#' or '.' would be a list, a
                # heading or a roff request.
                body = "\n".join("\\" + l if l[:1] in "-#." and l else l for l in body.split("\n"))
                f.write(literal_indented(body, comment) + "\n\n")
                shown = comment
    f.write("# SEE ALSO\n\n*dhpd*(8), *dhpctl*(1), *dhpd.conf*(5)\n")
