#!/usr/bin/env bash
# Soak test of the real app: runs it in a virtual display on its tour (a new view every few
# seconds, training restarted on the next dataset after each round of views) for MINUTES, and
# logs its resident memory and thread count once a minute. At the end it checks that memory grew
# less than 5% from minute 5 to the end and that the thread count stayed flat (the same after
# minute 1), and exits 1 if not.
#
# Usage: tools/soak.sh MINUTES [LOG]    (LOG default soak.log; one line a minute goes there too)
#   BIN    the binary (default: the one `cargo build` makes)
#   EVERY  seconds between views (default 3)
set -euo pipefail
minutes=${1:?usage: tools/soak.sh MINUTES [LOG]}
log=${2:-soak.log}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/collapse-explorer}
every=${EVERY:-3}
[ -x "$bin" ] || { echo "soak: no binary at $bin (run cargo build, or set BIN)" >&2; exit 1; }
command -v Xvfb >/dev/null || { echo "soak: needs Xvfb (apt-get install xvfb mesa-vulkan-drivers)" >&2; exit 1; }

display=:$((190 + RANDOM % 100))
Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
app=
cleanup() {
  [ -n "$app" ] && kill "$app" 2>/dev/null || true
  kill "$xvfb" 2>/dev/null || true
}
trap cleanup EXIT
sleep 1

DISPLAY=$display WAYLAND_DISPLAY='' "$bin" app --tour "$every" >"$log.app" 2>&1 &
app=$!
rss() { awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$app/status"; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$app/status"; }

{
  echo "# soak: $bin app --tour $every, $minutes min, $(date -u +%Y-%m-%dT%H:%MZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "minute rss_mib threads"
} | tee "$log"
for m in $(seq 0 "$minutes"); do
  ((m > 0)) && sleep 60
  kill -0 "$app" 2>/dev/null || { echo "soak: the app exited at minute $m (output in $log.app)" | tee -a "$log" >&2; exit 1; }
  echo "$m $(rss) $(threads)" | tee -a "$log"
done

python3 - "$log" "$minutes" <<'PY' | tee -a "$log"
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l[0].isdigit()]
minutes = int(sys.argv[2])
base = next((r for r in rows if r[0] == min(5, minutes)), rows[0])
end = rows[-1]
growth = (end[1] - base[1]) / base[1]
later = [r[2] for r in rows if r[0] >= 1]
flat = min(later) == max(later)
print(f"# RSS minute {base[0]}: {base[1]} MiB, minute {end[0]}: {end[1]} MiB, growth {100 * growth:+.1f}% (limit +5%); "
      f"threads after minute 1: {min(later)}-{max(later)} ({'flat' if flat else 'NOT flat'})")
ok = growth < 0.05 and flat
print("# soak: " + ("passed" if ok else "FAILED"))
sys.exit(0 if ok else 1)
PY
