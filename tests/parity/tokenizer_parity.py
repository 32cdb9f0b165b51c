#!/usr/bin/env python3
"""Compares Fractal's CLIP tokenizer with transformers' slow CLIPTokenizer (no ftfy), prompt by prompt.

Needs transformers 4.x (5.x dropped the slow CLIPTokenizer) and no ftfy, e.g.
    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install 'transformers==4.51.3'
Then, with test_tokenizer built:
    /tmp/tokvenv/bin/python tests/parity/tokenizer_parity.py --binary build/bin/test_tokenizer --random 5000
    ... --tokenizer path/to/model/tokenizer --prompts prompts.txt   # a real model's folder, one prompt a line
Without --tokenizer it builds OpenAI CLIP's vocabulary from shared/data/clip/bpe_simple_vocab_16e6.txt.gz
in the layout of SD 2.1 / ModelScope T2V (pad "!"), or with --sd1 the SD 1.x layout (pad <|endoftext|>).
Our ids come from `test_tokenizer --dump DIR FILE` (FILE: one JSON string a line). Exit status 1 on any
difference. --emit-c prints the built-in prompts with HF's ids as the C table in tests/test_tokenizer.c.
"""
import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BPE_GZ = os.path.join(ROOT, "..", "shared", "data", "clip", "bpe_simple_vocab_16e6.txt.gz")

# The prompts whose ids tests/test_tokenizer.c checks (keep in step with it: regenerate with --emit-c).
BUILTIN = [
    "",
    "a photo of a cat",
    "A Photo Of A CAT",
    "an astronaut riding a horse on mars, 4k, highly detailed",
    "Spiderman is surfing",
    "a panda eating bamboo on a rock.",
    "darth vader surfing in waves",
    "the quick brown fox jumps over the lazy dog",
    "hello, world! how's it going?",
    "it's they're we've i'm you'll he'd isn't",
    "IT'S THEY'RE WE'VE I'M YOU'LL HE'D",
    "don't'll 'sup",
    "1234567890",
    "3.14159 and 2,718 and 1e10",
    "$100 @ 50% off #deal & more... ~!?",
    "(((masterpiece))), [best quality], {ultra-detailed}",
    "a--b__c==d",
    "email@example.com http://x.y/z?q=1&r=2",
    "&amp; &lt;tag&gt; &quot;quoted&quot;",
    "wow!!! really?!",
    "!",
    "!!hello!!",
    "pad!in!the!middle",
    "a <|endoftext|> b",
    "<|startoftext|>hello<|endoftext|>",
    "<|ENDOFTEXT|> and <|StartOfText|>",
    "x<|endoftext|>y!z",
    "<|end\u00adoftext|>",
    "<|\u017ftartoftext|> it'\u017f",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber",
    "cafe\u0301 (combining acute) and n\u0303",
    "A\u030a vs \u00c5 vs \u212b",
    "\u0130stanbul \u0130I",
    "\u1e9e STRA\u1e9eE stra\u00dfe",
    "\u039f\u0394\u039f\u03a3 \u039f\u0394\u039f\u03a3\u0391 \u03a3 \u0391\u03a3. \u0391\u03a3\u0345",
    "\u03b1\u03b2\u03b3 \u0394\u03b5\u03bb\u03c4\u03b1 \u03c9\u03bc\u03ad\u03b3\u03b1",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0401\u0436",
    "\u4e00\u53ea\u732b\u5728\u8349\u5730\u4e0a\u5954\u8dd1",
    "\u6771\u4eac\u30bf\u30ef\u30fc\u3068\u3072\u3089\u304c\u306a \u30ab\u30bf\u30ab\u30ca",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8 \u1112\u1161\u11ab",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u05e9\u05dc\u05d5\u05dd \u0939\u093f\u0928\u094d\u0926\u0940 \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "a cat \U0001f431 and a dog \U0001f436 \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f",
    "\U0001f1ef\U0001f1f5 flags \U0001f44d\U0001f3fd",
    "\uff21\uff22\uff23 \uff41\uff42\uff43 \uff11\uff12\uff13 \uff01\uff1f",
    "\u2160\u2161\u2162 \u00bd \u00b2 \u0663\u0664 \u2460",
    "\uf900\uf901 \U0002f800 CJK compatibility",
    "tab\tseparated\nnew line\r\ncarriage",
    "  leading and trailing spaces   ",
    "no\u00a0break\u3000ideographic\u2003em\u2028line\u2029para",
    "nul\x00in\x00the\x00middle",
    "bell\x07 escape\x1b[31m red\x7f del",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom",
    "replacement \ufffd char",
    "private \ue000 use and \U000f0000",
    "unassigned \u0378 \U000e0001 tag",
    "\u00c0\u00c9\u00ce\u00d5\u00dc \u0100\u0102 \u01c4\u01c5\u01c6",
    "\u1f08\u0345 \u1f88 \u03d2\u0301",
    "ǅemal ǈjubljana",
    "\u0915\u093c \u09a1\u09bc \u0b21\u0b3c",
    "e\u0301\u0327 e\u0327\u0301 q\u0307\u0323",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "Visit BESTBUY.COM today!",
    "\"quotes\" 'single' `back`",
    "multiple     spaces\t\t\tand\n\n\nlines",
    " ".join(["word%d" % i for i in range(60)]),
    "a " * 100,
    "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua. ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip "
    "ex ea commodo consequat.",
    "\u0000",
    "\t\n ",
]

WORDS = ("a the of and photo painting portrait cat dog astronaut horse city night sunset forest ocean robot "
         "cyberpunk studio ghibli trending artstation octane render 8k ultra detailed cinematic lighting volumetric "
         "fog beautiful woman man child old young red blue green golden hour bokeh macro wide angle lens by greg "
         "rutkowski alphonse mucha unreal engine highly intricate sharp focus illustration concept art").split()
SCRIPTS = [(0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x530, 0x58F),
           (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x10A0, 0x10FF), (0x1100, 0x11FF),
           (0x1E00, 0x1FFF), (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
           (0xF900, 0xFAFF), (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF), (0x2F800, 0x2FA1F)]
MARKS = [(0x300, 0x36F), (0x483, 0x489), (0x591, 0x5BD), (0x64B, 0x65F), (0x93C, 0x94D), (0x1AB0, 0x1AFF),
         (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F), (0x1160, 0x11A7)]
ODD = ["\x00", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x7f", "\x85", "\xa0", "\xad", "\u034f",
       "\u1680", "\u180e", "\u2000", "\u200b", "\u200d", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
       "\ufeff", "\ufffd", "\ue000", "\u0378", "\u03a3", "\u0345", "\u0130", "\u017f", "\u1e9e", "\u212a",
       "\u212b", "\u2126", "!", "'", "<|endoftext|>", "<|startoftext|>", "<|ENDOFTEXT|>", "<|endoftext",
       "'s", "'S", "'ll", "'LL", "'re", "&amp;", "&#39;", "\U0001f600", "\U0001f3fb", "\ufe0f"]


# Stress material for NFC (starters, precomposed letters, Hangul jamo and syllables, marks of many classes),
# str.lower()'s final sigma (cased and case-ignorable neighbours) and the added-token split.
NFC_BASES = "aeiouAEIOUnNcCsSzZ\u00c5\u00e9\u1e9b\u0391\u03b1\u03a9\u0410\u0418\u0627\u0915\u0b47\u0bc6\u0cc6" \
    "\u0d46\u1025\u1100\u1112\u1161\u1175\u11a8\u11c2\uac00\uac01\ud7a3\u3046\u30cf\u05d0\u0f40\u0f71"
NFC_MARKS = "\u0300\u0301\u0302\u0303\u0307\u0308\u030a\u030c\u0323\u0327\u0328\u0331\u0345\u034f\u05b0" \
    "\u05bc\u05c1\u0653\u0654\u0655\u093c\u0b3e\u0b56\u0b57\u0bbe\u0bd7\u0cd5\u0d3e\u102e\u0f72\u0f74" \
    "\u0f80\u1dce\u20d2\u302a\u3099\u309a\u0340\u0341\u0343\u0344\u0f73\u0f75\u0f81"
SIGMA = "\u03a3\u03a3\u03a3\u03c3\u03c2\u0391\u03b1aA1.'\u2019\u00ad\u0345\u0307\u0301\u02b0\u24d0\u24b6\u2160" \
    "\u1d2c\u00aa\u0130\u00df\u1e9e\u200d\u3000 "
SPLIT = ["!", "!!", "<|endoftext|>", "<|startoftext|>", "<|", "|>", "endoftext", "startoftext", "\u017f", "'s", "'S",
         "'\u017f", "<|ENDOFTEXT|>", "<|endoftext|", " ", "\u00ad", "\x00", "a", "\u4e00", "&amp;", "1"]


def random_prompt(rng):
    kind = rng.randrange(11)
    if kind == 8:
        return "".join(rng.choice(NFC_BASES) if rng.random() < 0.4 else rng.choice(NFC_MARKS)
                       for _ in range(rng.randrange(1, 30)))
    if kind == 9:
        return "".join(rng.choice(SIGMA) for _ in range(rng.randrange(1, 20)))
    if kind == 10:
        return "".join(rng.choice(SPLIT) for _ in range(rng.randrange(1, 20)))
    parts = []
    n = rng.randrange(1, 40)
    for _ in range(n):
        r = rng.random()
        if kind == 0 or r < 0.4:
            w = rng.choice(WORDS)
            parts.append(w.upper() if rng.random() < 0.1 else w.capitalize() if rng.random() < 0.2 else w)
        elif r < 0.55:
            parts.append(rng.choice([",", ".", "!", "?", "'", "\"", "(", ")", "-", ":", ";", "...", "&", "#", "@"]))
        elif r < 0.65:
            parts.append(str(rng.randrange(10 ** rng.randrange(1, 8))))
        elif r < 0.8:
            lo, hi = rng.choice(SCRIPTS)
            s = "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randrange(1, 8)))
            if rng.random() < 0.3:
                lo, hi = rng.choice(MARKS)
                pos = rng.randrange(len(s) + 1)
                s = s[:pos] + "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randrange(1, 4))) + s[pos:]
            parts.append(s)
        elif r < 0.9:
            parts.append(rng.choice(ODD))
        else:
            cp = rng.randrange(0x110000)
            while 0xD800 <= cp < 0xE000:
                cp = rng.randrange(0x110000)
            parts.append(chr(cp))
    if kind == 7:  # raw random code points, mostly from the BMP
        parts = []
        for _ in range(rng.randrange(1, 60)):
            cp = rng.randrange(0x10000 if rng.random() < 0.8 else 0x110000)
            if not 0xD800 <= cp < 0xE000:
                parts.append(chr(cp))
        return "".join(parts)
    seps = [" "] * 12 + ["", "\t", "\n", "  ", "\u3000", "\xa0"]
    return "".join(p + rng.choice(seps) for p in parts)


def build_clip_dir(out, sd1=False):
    def bytes_to_unicode():
        bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
        cs, n = bs[:], 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        return [chr(c) for c in cs]

    lines = gzip.open(BPE_GZ).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in lines]
    vocab = bytes_to_unicode()
    vocab += [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({v: i for i, v in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(" ".join(m) + "\n" for m in merges))

    def tok(c, typed):
        d = {"content": c, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
        return dict({"__type": "AddedToken"}, **d) if typed else d

    smap = {"bos_token": tok("<|startoftext|>", False), "eos_token": tok("<|endoftext|>", False),
            "pad_token": "<|endoftext|>" if sd1 else "!", "unk_token": tok("<|endoftext|>", False)}
    cfg = {"add_prefix_space": False, "bos_token": tok("<|startoftext|>", True), "clean_up_tokenization_spaces": True,
           "do_lower_case": True, "eos_token": tok("<|endoftext|>", True), "errors": "replace",
           "model_max_length": 77, "name_or_path": "openai/clip-vit-large-patch14", "pad_token": "<|endoftext|>",
           "tokenizer_class": "CLIPTokenizer", "unk_token": tok("<|endoftext|>", True)}
    for name, obj in (("special_tokens_map.json", smap), ("tokenizer_config.json", cfg)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)


def hf_tokenizer(path):
    try:
        import ftfy  # noqa: F401
        sys.exit("ftfy is installed: CLIPTokenizer would use it; run in an environment without ftfy")
    except ImportError:
        pass
    import transformers
    from transformers import CLIPTokenizer
    if not hasattr(CLIPTokenizer, "bpe"):
        sys.exit("transformers %s has no slow CLIPTokenizer; install transformers 4.x" % transformers.__version__)
    return CLIPTokenizer.from_pretrained(path), transformers.__version__


def c_string(s):
    """A C string literal for s's UTF-8 bytes (octal escapes are never ambiguous)."""
    out = []
    for b in s.encode("utf-8"):
        ch = chr(b)
        out.append(ch if 0x20 <= b < 0x7F and ch not in '"\\?' else "\\%03o" % b)
    return '"' + "".join(out) + '"'


def emit_c(tok, prompts, version):
    print("  /* generated by tests/parity/tokenizer_parity.py --emit-c, transformers %s, no ftfy */" % version)
    for p in prompts:
        enc = tok(p, padding="max_length", max_length=77, truncation=True).input_ids
        used = len(tok(p, max_length=77, truncation=True).input_ids)
        assert enc[used:] == [tok.pad_token_id] * (77 - used)
        lit, first = c_string(p), True
        while len(lit) > 96:  # split long literals, never inside a 4-character octal escape
            cut = 96
            back = lit.rfind("\\", cut - 3, cut)
            if back >= 0:
                cut = back
            print(("  {" if first else "   ") + lit[:cut] + '"')
            lit, first = '"' + lit[cut:], False
        line, rows = "   {", []
        for k, x in enumerate(enc[:used]):
            item = str(x) + ("," if k + 1 < used else "")
            if len(line) + len(item) > 110:
                rows.append(line)
                line = "    "
            line += item
        rows.append(line + "}},")
        print(("  {" if first else "   ") + lit + ", %d, %d,\n" % (len(p.encode("utf-8")), used) + "\n".join(rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "bin", "test_tokenizer"))
    ap.add_argument("--tokenizer", help="a tokenizer folder (default: CLIP's vocabulary built in a temp folder)")
    ap.add_argument("--sd1", action="store_true", help="with the built vocabulary: pad <|endoftext|> (SD 1.x)")
    ap.add_argument("--prompts", help="a UTF-8 file with one prompt a line (default: the built-in prompts)")
    ap.add_argument("--random", type=int, default=0, help="add this many generated prompts")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--all-code-points", action="store_true",
                    help="add one prompt per code point c: 'a' c 'Σ ' c U+0301 ' ' c c (about 1.1M prompts)")
    ap.add_argument("--emit-c", action="store_true", help="print the built-in prompts' ids as a C table")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tokdir = args.tokenizer
        if not tokdir:
            tokdir = os.path.join(tmp, "tokenizer")
            os.mkdir(tokdir)
            build_clip_dir(tokdir, args.sd1)
        tok, version = hf_tokenizer(tokdir)
        if args.emit_c:
            emit_c(tok, BUILTIN, version)
            return 0
        if args.prompts:
            with open(args.prompts, encoding="utf-8") as f:
                prompts = f.read().split("\n")
            if prompts and prompts[-1] == "":
                prompts.pop()
        else:
            prompts = list(BUILTIN)
        rng = random.Random(args.seed)
        prompts += [random_prompt(rng) for _ in range(args.random)]
        if args.all_code_points:
            prompts += ["a%s\u03a3 %s\u0301 %s%s" % ((chr(cp),) * 4) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
        pfile = os.path.join(tmp, "prompts.jsonl")
        with open(pfile, "w", encoding="ascii") as f:
            for p in prompts:
                f.write(json.dumps(p) + "\n")
        res = subprocess.run([args.binary, "--dump", tokdir, pfile], capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit("%s failed (%d): %s" % (args.binary, res.returncode, res.stderr.strip()))
        ours = res.stdout.split("\n")[:len(prompts)]
        bad = 0
        for p, line in zip(prompts, ours):
            want = tok(p, padding="max_length", max_length=tok.model_max_length, truncation=True).input_ids
            got = [int(x) for x in line.split()] if not line.startswith("ERR") else line
            if got != want:
                bad += 1
                if bad <= 20:
                    print("DIFF %r\n  hf:   %s\n  ours: %s" % (p, want, got))
        print("transformers %s, tokenizer %s: %d prompts, %d differ" %
              (version, args.tokenizer or "CLIP (built, %s)" % ("SD 1.x" if args.sd1 else "SD 2.1 style"),
               len(prompts), bad))
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
