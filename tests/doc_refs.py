#!/usr/bin/env python3
"""Every path the repository's sources and docs name exists in the repository, and nothing outside tests/
sends a reader outside it (../shared/, design/). Scans the tracked text files for paths that start with a
top-level folder (docs/, daemon/, kernels/, ...); an ALL-CAPS component (fuzz_X's corpus/X, bad-RULE.ptx) is
a placeholder. Usage: doc_refs.py REPO_ROOT"""
import os
import re
import subprocess
import sys

TOPS = ["docs", "daemon", "tests", "tools", "kernels", "diffusion", "include", "protocol", "perf", "cmake", "design",
        "python", ".ci"]
TEXT = re.compile(r"(\.(c|h|cu|cuh|cc|md|sh|py|txt|cmake|json|html|conf|example|service|yml|yaml)|CMakeLists\.txt)$")
REF = re.compile(r"(?<![\w./-])((?:\.\./shared/|(?:" + "|".join(re.escape(t) for t in TOPS) + r")/)[\w./+-]*[\w+-])")
PLACEHOLDER = re.compile(r"(^|[/_-])[A-Z]+(\.|/|$)")


def main():
    root = sys.argv[1]
    try:
        files = subprocess.run(["git", "-C", root, "ls-files"], capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        print("SKIP: not a git checkout (the tracked files are what is checked)")
        return 77
    tracked = set(files)
    dirs = set()
    for f in files:
        d = os.path.dirname(f)
        while d:
            dirs.add(d)
            d = os.path.dirname(d)
    bad, refs = [], 0
    for f in files:
        if not TEXT.search(f) or not os.path.isfile(os.path.join(root, f)):
            continue
        try:
            text = open(os.path.join(root, f), encoding="utf-8").read()
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            for m in REF.finditer(line):
                ref = m.group(1).rstrip(".")
                refs += 1
                if ref.startswith(("../shared/", "design/")):
                    if not f.startswith("tests/"):
                        bad.append(f"{f}:{n}: points outside the repository: {ref}")
                elif ref not in tracked and ref not in dirs and not PLACEHOLDER.search(ref):
                    bad.append(f"{f}:{n}: no such file or folder in the repository: {ref}")
    for b in bad:
        print(b)
    print(f"doc_refs: {refs} references in {len(files)} files, {len(bad)} broken")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
