#!/usr/bin/env bash
# The side-by-side peer comparison of issue 14: the same ALU loop (add, xor, addi, branch;
# four instructions a lap) run in C under QEMU's user mode (riscv64), natively, and in pgvm,
# interleaved round by round in one invocation. Prints guest instructions per second for each
# (4 x laps / wall time, process start included) and the ratios of the medians.
#
# Usage: bench/peer/run.sh [LAPS] [ROUNDS]   (defaults: 100000000 laps, 5 rounds)
# Environment: PGVM=path to the pgvm binary (default: target/release/pgvm, built if missing);
#              PIN="taskset -c 1" to pin every run to one core (default: no pinning).
#
# Needs gcc, riscv64-linux-gnu-gcc and qemu-riscv64. When one is missing it says how to
# install them and exits 0, so that CI never needs them.
set -euo pipefail

laps=${1:-100000000}
rounds=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pin=${PIN:-}

missing=()
for tool in gcc riscv64-linux-gnu-gcc qemu-riscv64; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench/peer: missing ${missing[*]}; nothing measured."
    echo "install them with: apt-get install qemu-user gcc-riscv64-linux-gnu gcc"
    exit 0
fi

pgvm=${PGVM:-$root/target/release/pgvm}
if [ ! -x "$pgvm" ]; then
    (cd "$root" && cargo build --release -q -p pgvm)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
riscv64-linux-gnu-gcc -O2 -static -o "$work/alu-rv64" "$here/alu.c"
gcc -O2 -o "$work/alu-native" "$here/alu.c"
sed "s/^i:      .word .*/i:      .word $laps/" "$here/alu.s" > "$work/alu.s"

# The lap as compiled for riscv64, counted from the disassembly: from the backward branch's
# target to the branch. Four (add, xor, addi, bnez) with Debian's gcc -O2.
rv_lap=$(riscv64-linux-gnu-objdump -d "$work/alu-rv64" |
    awk '/<main>:/ {m = 1; next} m && /^$/ {exit}
         m { addr[++n] = $1; sub(":", "", addr[n]) }
         m && $3 == "bnez" { split($4, t, ","); target = t[2]; last = n; exit }
         END { for (k = 1; k <= last; k++) if (addr[k] == target) { print last - k + 1; exit } }') ||
    true # awk leaves early: objdump's broken pipe is not a failure
if [ "${rv_lap:-0}" -ne 4 ]; then
    echo "bench/peer: the riscv64 loop is ${rv_lap:-?} instructions a lap, not 4; rates count 4" >&2
fi

now() { date +%s%N; }
run_qemu() { $pin qemu-riscv64 "$work/alu-rv64" "$laps" >/dev/null; }
run_native() { $pin "$work/alu-native" "$laps" >/dev/null; }
run_pgvm() {
    local out
    out=$($pin "$pgvm" run --max-steps $((4 * laps + 10)) "$work/alu.s" 2>&1 >/dev/null)
    case "$out" in
        halted*) ;;
        *) echo "bench/peer: pgvm did not halt: $out" >&2; exit 1 ;;
    esac
}

declare -A times
for ((r = 1; r <= rounds; r++)); do
    for who in qemu native pgvm; do
        t0=$(now)
        "run_$who"
        t1=$(now)
        times[$who]+="$((t1 - t0)) "
    done
    printf "round %d:" "$r"
    for who in qemu native pgvm; do
        ns=$(echo ${times[$who]} | awk '{print $NF}')
        printf "  %s %.3f G/s" "$who" "$(echo "4 * $laps / $ns" | bc -l)"
    done
    echo
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A rate
echo "ALU loop, $laps laps (4 instructions each), median of $rounds interleaved rounds:"
for who in qemu native pgvm; do
    ns=$(echo "${times[$who]}" | median)
    rate[$who]=$(echo "4 * $laps / $ns" | bc -l)
    printf "  %-7s %8.3f G instructions/s  (%.3f s)\n" "$who" "${rate[$who]}" "$(echo "$ns / 1000000000" | bc -l)"
done
printf "  pgvm / qemu   = %.2f\n" "$(echo "${rate[pgvm]} / ${rate[qemu]}" | bc -l)"
printf "  pgvm / native = %.3f\n" "$(echo "${rate[pgvm]} / ${rate[native]}" | bc -l)"
printf "  qemu / native = %.3f\n" "$(echo "${rate[qemu]} / ${rate[native]}" | bc -l)"
