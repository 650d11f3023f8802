#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs taken from real material: our
# recordings (tests/recordings), the shared captures and third-party traces
# in ../shared (copied at run time, never committed: they belong to their
# authors), the config files and the example frames and requests of the docs.
# fuzz/corpus is gitignored; run this before `cargo +nightly fuzz run`.
# Usage: fuzz/seed.sh [target...]   (no target: all of them)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SHARED=../shared
[ -d "$SHARED" ] || SHARED=/work/shared

# Every AMI recording we can find: ours and the shared ones.
recordings() {
    local f
    for f in tests/recordings/*.ami tests/recordings/live/*.ami \
        "$SHARED"/ami-traces/*.ami "$SHARED"/asterisk-captures/*.ami; do
        [ -f "$f" ] && printf '%s\n' "$f"
    done
}

# One corpus file per input, named after its source so a run can be traced.
put() { # target name < content
    mkdir -p "fuzz/corpus/$1"
    cat >"fuzz/corpus/$1/seed-$2"
}

seed_codec() {
    local f
    while read -r f; do
        put codec "$(basename "$(dirname "$f")")-$(basename "$f")" <"$f"
    done < <(recordings)
}

# tracker, raw mode (first byte even): byte 0, four chunk sizes, then the
# recording. Script mode (first byte odd): 3-byte steps over the packet pool
# that fuzz_targets/tracker.rs builds from our recordings (same files, same
# order); each recording replayed alone, interleaved with renamed copies of
# itself, across a resync, and with a client joining midway.
seed_tracker() {
    local f n=0
    while read -r f; do
        n=$((n + 1))
        { printf '\x00\x3f\x07\xff\x00'; cat "$f"; } | put tracker "raw-$n-$(basename "$f")"
    done < <(recordings)
    mkdir -p fuzz/corpus/tracker
    python3 - fuzz/corpus/tracker <<'PY'
import os, re, sys
out = sys.argv[1]
src = open("fuzz/fuzz_targets/tracker.rs").read()
files = re.findall(r'include_bytes!\("\.\./\.\./(tests/recordings/[^"]+)"\)', src)
start = 0
for f in files:
    text = open(f, "rb").read().replace(b"\r\n", b"\n")
    packets = [p for p in text.split(b"\n\n") if p.strip()]
    if packets and packets[0].startswith(b"Asterisk Call Manager"):
        first = packets[0].split(b"\n", 1)
        packets[0] = first[1] if len(first) > 1 else b""
    n = sum(1 for p in packets if p.strip() and not p.lower().startswith(b"action:"))
    ids = list(range(start, start + n))
    start += n
    step = lambda op, i: bytes([op, i >> 8, i & 0xFF])
    name = os.path.basename(f)
    seeds = {
        "alone": b"".join(step(0, i) for i in ids),
        "interleaved": b"".join(step(0, i) + step(0x40, i) + step(0x80, ids[max(0, k - 3)])
                                for k, i in enumerate(ids)),
        "resync": b"".join(step(0, i) for i in ids[: n // 2]) + step(10, 0)
                  + b"".join(step(0, i) for i in ids[n // 2:]) + step(11, 0),
        "join": b"".join(step(0, i) for i in ids[: n // 2]) + step(15, 0)
                + b"".join(step(0, i) for i in ids[n // 2:]),
        "hint": step(13, ids[0]) + b"".join(step(0, i) for i in ids) if ids else b"",
    }
    for kind, body in seeds.items():
        with open(os.path.join(out, f"seed-script-{kind}-{name}"), "wb") as w:
            w.write(b"\x01" + body)
PY
}

# config: the config files, and for every key of docs/config.md's tables one
# live config setting it to each JSON value the row shows (its default and
# its examples).
seed_config() {
    local f
    for f in config/*.json; do
        put config "$(basename "$f")" <"$f"
    done
    mkdir -p fuzz/corpus/config
    python3 - fuzz/corpus/config <<'PY'
import json, os, re, sys
out = sys.argv[1]
n = 0
for row in open("docs/config.md", encoding="utf-8"):
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    if len(cells) < 3 or not re.fullmatch(r"`\w+`", cells[0]):
        continue
    key = cells[0].strip("`")
    for literal in re.findall(r"`([^`]+)`", " | ".join(cells[1:])):
        try:
            value = json.loads(literal)
        except ValueError:
            continue
        config = {"url": "pbx.example.org", "userName": "crm", "secret": "s3cret",
                  "users": [{"name": "Alice", "line": "1000", "token": "0123456789abcdef-tok"}]}
        config[key] = value
        n += 1
        with open(os.path.join(out, f"seed-doc-{n}-{key}.json"), "w") as w:
            json.dump(config, w, indent=2)
PY
}

# ws_command: every example frame of PROTOCOL.md and docs/protocol.md, and
# one frame per command the protocol names, with the docs' example values.
seed_ws_command() {
    mkdir -p fuzz/corpus/ws_command
    python3 - fuzz/corpus/ws_command "$SHARED/PROTOCOL.md" docs/protocol.md <<'PY'
import os, re, sys
out, docs = sys.argv[1], sys.argv[2:]
frames = []
for d in docs:
    if os.path.isfile(d):
        frames += re.findall(r'\{[^{}\n]*"op"[^{}\n]*\}', open(d, encoding="utf-8").read())
call = '"call":"1795422529.1"'
frames += [
    '{"op":"auth","id":1,"token":"tok-1000-abcdefgh"}',
    '{"op":"call","id":"c","number":"1002"}',
    '{"op":"hangup","id":2,' + call + '}',
    '{"op":"hold","id":3,' + call + '}',
    '{"op":"unhold","id":4,' + call + '}',
    '{"op":"transfer","id":5,' + call + ',"number":"*8#+33"}',
    '{"op":"attended_transfer","id":6,' + call + ',"number":"1006"}',
    '{"op":"answer","id":7,' + call + '}',
    '{"op":"queue_pause","id":8,"paused":true,"reason":"lunch \\u00e9\\ud83d\\ude00","queue":"support"}',
    '{"op":"debug","id":9,"on":true}',
    '{"op":"ping","id":null}',
]
for i, f in enumerate(frames):
    with open(os.path.join(out, f"seed-{i}"), "w", encoding="utf-8") as w:
        w.write(f)
PY
}

# http_request: real request heads captured from curl 7.88, Chromium 156
# and Python websockets 17.4 (fuzz/seeds/http_request; the Prometheus one
# is written from its scrape headers).
seed_http_request() {
    local f
    for f in fuzz/seeds/http_request/*; do
        put http_request "$(basename "$f")" <"$f"
    done
}

TARGETS=("$@")
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=(codec tracker config ws_command http_request)
for t in "${TARGETS[@]}"; do
    "seed_$t"
    printf 'fuzz/corpus/%s: %s files\n' "$t" "$(ls "fuzz/corpus/$t" | wc -l)"
done
