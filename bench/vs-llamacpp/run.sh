#!/usr/bin/env bash
# owl vs llama.cpp on the same GGUF files, same threads, alternating runs.
# A synthetic model with the Llama-3.2-1B shape (random weights; the llama3_1 tokenizer from the
# fixtures) is written as F16, Q8_0, Q4_0 and Q4_K_M GGUF by owl; both engines run pp512 and
# tg128 on each, REPS times, and the medians, the ratio owl/llama.cpp, the machine's read
# bandwidth and the tg roofline are printed as a Markdown table.
# usage: bench/vs-llamacpp/run.sh [THREADS] [REPS] [LAYERS] [TYPES...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
threads=${1:-2}; reps=${2:-3}; layers=${3:-16}; shift $(( $# > 3 ? 3 : $# )) || true
types=("$@"); [ ${#types[@]} -gt 0 ] || types=(F16 Q8_0 Q4_0 Q4_K_M)
build=${OWL_BUILD:-$root/build/release}  # an existing build folder skips `make build`
work="$root/build/bench"
mkdir -p "$work"
[ -n "${OWL_BUILD:-}" ] || make -C "$root" build >/dev/null
if [ ! -d "$root/tests/interop/node_modules/node-llama-cpp" ]; then
  (cd "$root/tests/interop" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
export NODE_PATH="$root/tests/interop/node_modules"
peer="$work/llamacpp_bench.mjs"
cp "$root/bench/vs-llamacpp/llamacpp_bench.mjs" "$peer"
ln -sfn "$root/tests/interop/node_modules" "$work/node_modules"

synthetic="$work/llama-1b-shape-L$layers"
[ -f "$synthetic/model.safetensors" ] || "$build/owl_make_synthetic" "$synthetic" "${OWL_FIXTURES:-$root/../shared/fixtures}/tokenizers/llama3_1" --layers "$layers"
# On a shared machine the bandwidth drifts by tens of percent within minutes (measured 30-54
# GB/s on the 2-core EPYC), so it is measured before every run of either engine and each
# type's roofline uses the median of those taken during its runs.
measure_bandwidth() { "$build/owl_membw" "$threads" 1024 | sed 's/.*"read_gb_per_s": \([0-9.]*\).*/\1/'; }
all_bandwidths=()

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "| type | file GiB | owl pp512 | llama.cpp pp512 | ratio | owl tg128 | llama.cpp tg128 | ratio | GB/s | tg roofline | owl % of roofline |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for type in "${types[@]}"; do
  file="$work/llama-1b-shape-L$layers-$type.gguf"
  [ -f "$file" ] || "$build/owl" convert "$synthetic" "$file" --type "$type" >/dev/null
  owl_pp=(); owl_tg=(); cpp_pp=(); cpp_tg=(); bandwidths=()
  for ((r = 0; r < reps; r++)); do  # alternate the engines so drift hits both alike
    bandwidths+=("$(measure_bandwidth)")
    out=$("$build/owl" bench "$file" -p 512 -n 128 -t "$threads" -r 1 --json)
    owl_pp+=("$(echo "$out" | node -e 'const r=JSON.parse(require("fs").readFileSync(0));console.log(r.find(x=>x.test=="pp512").tokens_per_s)')")
    owl_tg+=("$(echo "$out" | node -e 'const r=JSON.parse(require("fs").readFileSync(0));console.log(r.find(x=>x.test=="tg128").tokens_per_s)')")
    bandwidths+=("$(measure_bandwidth)")
    out=$(cd "$work" && node "$peer" "$file" 512 128 "$threads")
    cpp_pp+=("$(echo "$out" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).pp)')")
    cpp_tg+=("$(echo "$out" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).tg)')")
  done
  bytes=$(stat -c %s "$file")
  op=$(printf '%s\n' "${owl_pp[@]}" | median); cp=$(printf '%s\n' "${cpp_pp[@]}" | median)
  ot=$(printf '%s\n' "${owl_tg[@]}" | median); ct=$(printf '%s\n' "${cpp_tg[@]}" | median)
  bandwidth=$(printf '%s\n' "${bandwidths[@]}" | median); all_bandwidths+=("${bandwidths[@]}")
  awk -v t="$type" -v b="$bytes" -v op="$op" -v cp="$cp" -v ot="$ot" -v ct="$ct" -v bw="$bandwidth" 'BEGIN {
    roof = bw * 1e9 / b;
    printf "| %s | %.2f | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx | %.1f | %.1f | %.0f%% |\n",
           t, b / 2^30, op, cp, op / cp, ot, ct, ot / ct, bw, roof, 100 * ot / roof }'
done
echo
range=$(printf '%s\n' "${all_bandwidths[@]}" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}')
echo "threads $threads, median of $reps; read bandwidth (owl_membw) measured before every run, $range GB/s;"
echo "llama.cpp = node-llama-cpp 3.22.1 prebuilt CPU"
