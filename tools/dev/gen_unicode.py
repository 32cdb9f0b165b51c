#!/usr/bin/env python3
"""Generates diffusion/text/unicode.h and diffusion/text/unicode_data.c: the Unicode tables behind the CLIP tokenizer.

The tokenizer must reproduce transformers' slow CLIPTokenizer without ftfy, which leans on three
Unicode implementations at once, each with its own data:
  * Python's unicodedata / str methods (BasicTokenizer: categories, str.isspace, str.lower with its
    final-sigma rule, NFC),
  * the third-party `regex` module (the pre-tokenizer's [\\p{L}], [\\p{N}], [^\\s\\p{L}\\p{N}] and its
    case-insensitive literals, evaluated under re.IGNORECASE).
So the tables are not derived from the UCD files directly: every property is read back from the very
functions the reference calls (chr(c).lower(), regex.match(...)), code point by code point. That makes
them exact for the Python + regex that ran this script, whatever quirks those have (e.g. U+0345 is in
none of the regex classes under IGNORECASE; U+017F matches the 's' of "'s").

Rerun (about a minute) in the reference environment after changing Python or regex:
    python3 tools/dev/gen_unicode.py            # writes diffusion/text/unicode.h and diffusion/text/unicode_data.c
    python3 tools/dev/gen_unicode.py --check    # exits 1 if the committed files differ
"""
import argparse
import os
import sys
import unicodedata

import regex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAX_CP = 0x110000
SURROGATES = range(0xD800, 0xE000)
HANGUL_S_BASE, HANGUL_S_COUNT = 0xAC00, 11172

# Property bits; the order is the header's enum.
PROPS = [
    ("CONTROL", "category C* except \\t \\n \\r: BasicTokenizer._clean_text drops it"),
    ("BLANK", "' ', \\t, \\n, \\r or category Zs: _clean_text turns it into ' '"),
    ("PYSPACE", "str.isspace(): str.split() and str.strip() split or strip on it"),
    ("CASED", "cased and not case-ignorable, as str.lower()'s final-sigma rule sees it"),
    ("CASE_IGNORABLE", "case-ignorable, skipped by the final-sigma rule"),
    ("RX_LETTER", "matches [\\p{L}] under regex IGNORECASE"),
    ("RX_NUMBER", "matches [\\p{N}] under regex IGNORECASE"),
    ("RX_OTHER", "matches [^\\s\\p{L}\\p{N}] under regex IGNORECASE"),
]
BIT = {name: 1 << i for i, (name, _) in enumerate(PROPS)}
# The ASCII characters of the pre-tokenizer's literal alternatives (<|startoftext|>, 's, 'll, ...).
LITERAL_CHARS = sorted(set("<|startoftext|><|endoftext|>'s't're've'm'll'd"))


def code_points():
    return (cp for cp in range(MAX_CP) if cp not in SURROGATES)


def props_of(cp, rx_l, rx_n, rx_o):
    c = chr(cp)
    p = 0
    if c not in "\t\n\r" and unicodedata.category(c).startswith("C"):
        p |= BIT["CONTROL"]
    if c in " \t\n\r" or unicodedata.category(c) == "Zs":
        p |= BIT["BLANK"]
    if c.isspace():
        p |= BIT["PYSPACE"]
    # CPython's final-sigma test, read back through lower(): "cΣ" ends in ς iff c is cased and not
    # case-ignorable; "AcΣ" ends in ς iff c is case-ignorable or cased.
    alone = (c + "\u03a3").lower()[-1] == "\u03c2"
    after_a = ("A" + c + "\u03a3").lower()[-1] == "\u03c2"
    if alone:
        p |= BIT["CASED"]
    elif after_a:
        p |= BIT["CASE_IGNORABLE"]
    if rx_l.match(c):
        p |= BIT["RX_LETTER"]
    if rx_n.match(c):
        p |= BIT["RX_NUMBER"]
    if rx_o.match(c):
        p |= BIT["RX_OTHER"]
    return p


def prop_runs():
    rx_l = regex.compile(r"[\p{L}]", regex.IGNORECASE)
    rx_n = regex.compile(r"[\p{N}]", regex.IGNORECASE)
    rx_o = regex.compile(r"[^\s\p{L}\p{N}]", regex.IGNORECASE)
    runs, last = [], None
    for cp in range(MAX_CP):
        # Surrogates cannot come out of valid UTF-8; give them the neighbours' value to save runs.
        p = last if cp in SURROGATES else props_of(cp, rx_l, rx_n, rx_o)
        if p != last:
            runs.append((cp, p))
            last = p
    return runs


def lower_tables():
    """Single-code-point lowercase mappings as runs (start, count, stride, delta), and the rest."""
    single, multi = [], []
    for cp in code_points():
        if cp == 0x3A3:
            continue  # capital sigma depends on context: the C code applies the final-sigma rule
        low = chr(cp).lower()
        if low == chr(cp):
            continue
        if len(low) == 1:
            single.append((cp, ord(low) - cp))
        else:
            multi.append((cp, [ord(x) for x in low]))
    runs = []
    for cp, delta in single:
        if runs:
            start, count, stride, d = runs[-1]
            nxt = start + count * stride
            if d == delta and cp == nxt and (count > 1 or stride == cp - start):
                runs[-1] = (start, count + 1, stride, d)
                continue
            if d == delta and count == 1 and cp - start in (1, 2):
                runs[-1] = (start, 2, cp - start, d)
                continue
        runs.append((cp, 1, 1, delta))
    return runs, multi


def ccc_runs():
    runs, last = [], None  # the first run starts at U+0000, as find_run() assumes
    for cp in code_points():
        c = unicodedata.combining(chr(cp))
        if c != last:
            runs.append((cp, c))
            last = c
    return runs


def decompositions():
    """Full canonical decompositions (what NFD gives a lone code point), Hangul syllables excluded."""
    out = []
    for cp in code_points():
        if HANGUL_S_BASE <= cp < HANGUL_S_BASE + HANGUL_S_COUNT:
            continue
        d = unicodedata.normalize("NFD", chr(cp))
        if d != chr(cp):
            out.append((cp, [ord(x) for x in d]))
    return out


def compositions():
    """Primary composites: a two-code-point canonical mapping that NFC gives back (not excluded)."""
    out = []
    for cp in code_points():
        if HANGUL_S_BASE <= cp < HANGUL_S_BASE + HANGUL_S_COUNT:
            continue
        dec = unicodedata.decomposition(chr(cp))
        if not dec or dec.startswith("<"):
            continue
        parts = [int(x, 16) for x in dec.split()]
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(cp)) == chr(cp):
            out.append((parts[0], parts[1], cp))
    out.sort()
    return out


def literal_folds():
    """Non-ASCII code points that regex IGNORECASE matches against one of the literals' characters."""
    out = []
    pats = {ch: regex.compile(regex.escape(ch), regex.IGNORECASE) for ch in LITERAL_CHARS}
    for cp in code_points():
        if cp < 0x80:
            continue
        for ch, p in pats.items():
            if p.fullmatch(chr(cp)):
                out.append((cp, ord(ch)))
    return out


def rows(items, fmt, per_line):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("  " + " ".join(fmt(x) for x in items[i:i + per_line]))
    return "\n".join(lines)


def versions():
    return unicodedata.unidata_version, "Python %d.%d.%d" % sys.version_info[:3], "regex " + regex.__version__


def render_header():
    uver, pyver, rxver = versions()
    enum = "\n".join("  FR_UC_%s = 1 << %d, /* %s */" % (n, i, d) for i, (n, d) in enumerate(PROPS))
    return f"""/* Unicode tables for the CLIP tokenizer (internal). GENERATED by tools/dev/gen_unicode.py: edit that, rerun it. */
#ifndef FRACTAL_UNICODE_H
#define FRACTAL_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* The data was read back from these implementations, the ones transformers' slow CLIPTokenizer uses. */
#define FR_UNICODE_VERSION "{uver}" /* Python's unicodedata.unidata_version */
#define FR_UNICODE_PYTHON "{pyver}"
#define FR_UNICODE_REGEX "{rxver}"

enum {{
{enum}
}};

#define FR_UC_LOWER_MAX 3  /* longest str.lower() of one code point */
#define FR_UC_DECOMP_MAX 4 /* longest canonical decomposition of one code point */

/* FR_UC_* bits of a code point (0 above U+10FFFF). */
unsigned fr_uc_props(uint32_t cp);
/* str.lower() of one code point into out; returns the count (1 if unchanged). U+03A3 maps to U+03C3 here:
 * the caller applies the final-sigma rule, which needs the context. */
int fr_uc_lower(uint32_t cp, uint32_t out[FR_UC_LOWER_MAX]);
/* Canonical combining class. */
int fr_uc_ccc(uint32_t cp);
/* Full canonical decomposition (Hangul included) into out; returns the count (1 if none). */
int fr_uc_decompose(uint32_t cp, uint32_t out[FR_UC_DECOMP_MAX]);
/* The primary composite of a + b (Hangul included), or 0 if there is none. */
uint32_t fr_uc_compose(uint32_t a, uint32_t b);
/* The ASCII character that cp matches as a literal under regex IGNORECASE, for the characters of the
 * pre-tokenizer's literals ("<|startoftext|>", "'s", ...): 'S' -> 's', U+017F -> 's'; else cp. */
uint32_t fr_uc_literal_fold(uint32_t cp);

#endif
"""


def render_source():
    uver, pyver, rxver = versions()
    props = prop_runs()
    low_runs, low_multi = lower_tables()
    ccc = ccc_runs()
    dec = decompositions()
    comp = compositions()
    folds = literal_folds()
    assert all(len(m) <= 3 for _, m in low_multi) and all(len(d) <= 4 for _, d in dec)
    assert len(props) < 1 << 16 and all(p < 256 for _, p in props)
    assert all(cp >= 0x300 for cp, c in ccc if c)  # fr_uc_ccc's shortcut
    latin1 = [next(p for start, p in reversed(props) if start <= cp) for cp in range(256)]
    pool, dec_rows = [], []
    for cp, seq in dec:
        dec_rows.append((cp, len(pool), len(seq)))
        pool.extend(seq)
    assert len(pool) < 1 << 16

    return f"""/* Unicode tables for the CLIP tokenizer. GENERATED by tools/dev/gen_unicode.py from {pyver}
 * (unicodedata {uver}) and {rxver}: do not edit, rerun the script. */
#include "text/unicode.h"

/* FR_UC_* bits by code point: run i covers [start_i, start_{{i+1}}), packed as start << 8 | bits. */
static const uint32_t prop_runs[{len(props)}] = {{
{rows(props, lambda r: "0x%x," % (r[0] << 8 | r[1]), 10)}
}};

/* The same for U+0000..U+00FF, where most text is: no search. */
static const uint8_t latin1_props[256] = {{
{rows(latin1, lambda p: "0x%02x," % p, 16)}
}};

/* str.lower() as runs: count code points from start, stride apart, each mapping to itself + delta. */
typedef struct lower_run {{
  uint32_t start;
  uint16_t count;
  uint8_t stride;
  int32_t delta;
}} lower_run;
static const lower_run lower_runs[{len(low_runs)}] = {{
{rows(low_runs, lambda r: "{0x%x,%d,%d,%d}," % r, 5)}
}};

/* Lowercase mappings longer than one code point (SpecialCasing's unconditional ones). */
typedef struct lower_multi {{
  uint32_t cp;
  uint32_t to[FR_UC_LOWER_MAX];
  int n;
}} lower_multi;
static const lower_multi lower_multis[{len(low_multi)}] = {{
{rows(low_multi, lambda r: "{0x%x,{%s},%d}," % (r[0], ",".join("0x%x" % x for x in r[1]), len(r[1])), 3)}
}};

/* Canonical combining classes as runs: start << 8 | class, the class holding until the next start. */
static const uint32_t ccc_runs[{len(ccc)}] = {{
{rows(ccc, lambda r: "0x%x," % (r[0] << 8 | r[1]), 10)}
}};

/* Full canonical decompositions: code point, offset into decomp_pool, length. */
typedef struct decomp_row {{
  uint32_t cp;
  uint16_t off;
  uint8_t n;
}} decomp_row;
static const decomp_row decomp_rows[{len(dec_rows)}] = {{
{rows(dec_rows, lambda r: "{0x%x,%d,%d}," % r, 6)}
}};
static const uint32_t decomp_pool[{len(pool)}] = {{
{rows(pool, lambda x: "0x%x," % x, 12)}
}};

/* Primary composites, sorted by (a, b). */
typedef struct comp_row {{
  uint32_t a, b, c;
}} comp_row;
static const comp_row comp_rows[{len(comp)}] = {{
{rows(comp, lambda r: "{0x%x,0x%x,0x%x}," % r, 5)}
}};

/* Non-ASCII code points that match an ASCII literal character under regex IGNORECASE. */
static const uint32_t literal_folds[{len(folds)}][2] = {{
{rows(folds, lambda r: "{0x%x,0x%x}," % r, 6)}
}};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Index of the last run whose start (runs[i] >> 8) is <= cp; runs[0] starts at 0. */
static size_t find_run(const uint32_t *runs, size_t n, uint32_t cp)
{{
  size_t lo = 0, hi = n;
  while (hi - lo > 1) {{
    size_t mid = lo + (hi - lo) / 2;
    if ((runs[mid] >> 8) <= cp) lo = mid;
    else hi = mid;
  }}
  return lo;
}}

unsigned fr_uc_props(uint32_t cp)
{{
  if (cp < 256) return latin1_props[cp];
  if (cp >= 0x110000) return 0;
  return prop_runs[find_run(prop_runs, COUNT(prop_runs), cp)] & 0xff;
}}

int fr_uc_ccc(uint32_t cp)
{{
  if (cp < 0x300 || cp >= 0x110000) return 0; /* nothing below U+0300 combines */
  return (int)(ccc_runs[find_run(ccc_runs, COUNT(ccc_runs), cp)] & 0xff);
}}

int fr_uc_lower(uint32_t cp, uint32_t out[FR_UC_LOWER_MAX])
{{
  size_t lo = 0, hi = COUNT(lower_runs);
  while (lo < hi) {{ /* first run starting after cp */
    size_t mid = lo + (hi - lo) / 2;
    if (lower_runs[mid].start <= cp) lo = mid + 1;
    else hi = mid;
  }}
  if (lo > 0) {{
    const lower_run *r = &lower_runs[lo - 1];
    uint32_t k = cp - r->start;
    if (k % r->stride == 0 && k / r->stride < r->count) {{
      out[0] = (uint32_t)((int32_t)cp + r->delta);
      return 1;
    }}
  }}
  for (size_t i = 0; i < COUNT(lower_multis); i++)
    if (lower_multis[i].cp == cp) {{
      for (int j = 0; j < lower_multis[i].n; j++) out[j] = lower_multis[i].to[j];
      return lower_multis[i].n;
    }}
  out[0] = cp;
  return 1;
}}

enum {{ S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7, L_COUNT = 19, V_COUNT = 21,
       T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT }};

int fr_uc_decompose(uint32_t cp, uint32_t out[FR_UC_DECOMP_MAX])
{{
  if (cp >= S_BASE && cp < S_BASE + S_COUNT) {{ /* Hangul syllables decompose arithmetically */
    uint32_t s = cp - S_BASE, t = s % T_COUNT;
    out[0] = L_BASE + s / N_COUNT;
    out[1] = V_BASE + (s % N_COUNT) / T_COUNT;
    if (t == 0) return 2;
    out[2] = T_BASE + t;
    return 3;
  }}
  size_t lo = 0, hi = COUNT(decomp_rows);
  while (lo < hi) {{
    size_t mid = lo + (hi - lo) / 2;
    if (decomp_rows[mid].cp < cp) lo = mid + 1;
    else hi = mid;
  }}
  if (lo < COUNT(decomp_rows) && decomp_rows[lo].cp == cp) {{
    for (int j = 0; j < decomp_rows[lo].n; j++) out[j] = decomp_pool[decomp_rows[lo].off + j];
    return decomp_rows[lo].n;
  }}
  out[0] = cp;
  return 1;
}}

uint32_t fr_uc_compose(uint32_t a, uint32_t b)
{{
  if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
    return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
  if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT)
    return a + (b - T_BASE);
  size_t lo = 0, hi = COUNT(comp_rows);
  while (lo < hi) {{
    size_t mid = lo + (hi - lo) / 2;
    if (comp_rows[mid].a < a || (comp_rows[mid].a == a && comp_rows[mid].b < b)) lo = mid + 1;
    else hi = mid;
  }}
  if (lo < COUNT(comp_rows) && comp_rows[lo].a == a && comp_rows[lo].b == b) return comp_rows[lo].c;
  return 0;
}}

uint32_t fr_uc_literal_fold(uint32_t cp)
{{
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  for (size_t i = 0; i < COUNT(literal_folds); i++)
    if (literal_folds[i][0] == cp) return literal_folds[i][1];
  return cp;
}}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = ap.parse_args()
    outputs = {
        os.path.join(ROOT, "diffusion", "text", "unicode.h"): render_header(),
        os.path.join(ROOT, "diffusion", "text", "unicode_data.c"): render_source(),
    }
    stale = []
    for path, text in outputs.items():
        if args.check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    stale.append(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print("wrote %s (%d bytes)" % (path, len(text.encode())))
    if stale:
        print("stale (rerun tools/dev/gen_unicode.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
