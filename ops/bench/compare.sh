#!/usr/bin/env bash
# compare.sh — strata bench beside llama.cpp on the same GGUF files, same thread counts, same run, interleaved,
# plus the machine's memory read bandwidth, for BENCHMARKS.md.
#
#   ORACLE_DIR=../shared/oracle [REPS=5] [THREADS="1 2"] ops/bench/compare.sh [TYPES...]   (default: Q4_0 Q8_0 Q4_K_M)
#
# Needs the oracle built and the 1B-shaped models made (see ../shared/oracle/README.md: `npm run setup`,
# `node make_fixtures.mjs llama1b`); ORACLE_DIR must be a writable copy when they are not there yet.
# Writes bench-out/compare.jsonl (one object per run) and prints a markdown table.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
oracle=${ORACLE_DIR:-$root/../shared/oracle}
models=${MODELS_DIR:-$oracle/out/llama1b}
reps=${REPS:-5}
threads=${THREADS:-"1 2"}
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(Q4_0 Q8_0 Q4_K_M)
out=$root/bench-out
mkdir -p "$out"
[ -x "$oracle/build/llama-oracle" ] || { echo "compare.sh: $oracle/build/llama-oracle missing: run make in the oracle folder" >&2; exit 1; }
"$root/strata" build >/dev/null
bw=$(OMP_NUM_THREADS=1 "$oracle/build/membw" 1 10 | tail -1)
echo "$bw" > "$out/membw.json"
: > "$out/compare.jsonl"
for ty in "${types[@]}"; do
  f=$models/llama1b-$ty.gguf
  [ -f "$f" ] || { echo "compare.sh: $f missing (node make_fixtures.mjs llama1b)" >&2; exit 1; }
  for t in $threads; do
    echo "llama.cpp $ty threads=$t" >&2
    "$oracle/build/llama-oracle" bench -m "$f" -t "$t" --pp 128 --tg 64 -r "$reps" \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); d["engine"]="llama.cpp"; d["type"]=sys.argv[1]; print(json.dumps(d))' "$ty" >> "$out/compare.jsonl"
    echo "strata    $ty threads=$t" >&2
    "$root/strata" bench -m "$f" -t "$t" --pp 128 --tg 64 --reps "$reps" 2>/dev/null \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); d["engine"]="strata"; d["type"]=sys.argv[1]; print(json.dumps(d))' "$ty" >> "$out/compare.jsonl"
  done
done
python3 - "$out/compare.jsonl" "$out/membw.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
bw = json.loads(open(sys.argv[2]).read())
gbs = bw.get("GB_per_s") or bw.get("gb_per_s")
def med(x, k):
    v = x[k]; return v["median"] if "median" in v else v["tok_per_s"]
def rng(x, k):
    v = x[k]; r = v.get("runs", []); return f'{min(r):.1f}-{max(r):.1f}' if r else ''
print(f"memory read bandwidth, 1 thread: {gbs} GB/s\n")
print("| file | threads | llama.cpp pp128 | strata pp128 | pp ratio | llama.cpp tg64 | strata tg64 | tg ratio | strata roofline | strata RSS anon MB | first token s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
ll = {(r["type"], r["settings"]["threads"]): r for r in rows if r["engine"] == "llama.cpp"}
for s in (r for r in rows if r["engine"] == "strata"):
    l = ll[(s["type"], s["threads"])]
    roof = med(s, "tg") * s["weights_bytes"] / (gbs * 1e9) if gbs else float("nan")
    print(f'| llama1b-{s["type"]} | {s["threads"]} | {med(l,"pp"):.1f} ({rng(l,"pp")}) | {med(s,"pp"):.1f} ({rng(s,"pp")}) | {med(s,"pp")/med(l,"pp"):.2f} '
          f'| {med(l,"tg"):.1f} ({rng(l,"tg")}) | {med(s,"tg"):.1f} ({rng(s,"tg")}) | {med(s,"tg")/med(l,"tg"):.2f} | {roof:.0%} '
          f'| {s.get("rssanon_bytes",0)/2**20:.0f} | {s["first_token_ms_since_jvm_start"]/1000:.1f} |')
PY
