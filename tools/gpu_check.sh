#!/usr/bin/env bash
# The GPU check: collapse-explorer's speed on burn's wgpu backend, prepared here and run on a
# bare GPU machine (one NVIDIA H200 is the one expected) that receives at most 64 MiB of files
# and gives one command 10 minutes.
#
#   tools/gpu_check.sh pack [DIR]   here: a stripped, zstd-compressed binary of the current build,
#                                   the Vulkan loader libraries from Debian's packages (libvulkan1,
#                                   libegl1, libglvnd0) and a zstd to unpack it, into DIR
#                                   (default gpu-check/, git-ignored; about 20 MiB)
#   tools/gpu_check.sh run [DIR]    there: unpacks DIR and runs `speed --device gpu` under a
#                                   time limit (GPU_CHECK_LIMIT seconds, default 480): config B
#                                   training, the CIFAR-shape U-Net at batch 32 to 256, and the
#                                   cost of a 2,000-image study, as one table; then `speed` on
#                                   the CPU with all its threads and with 2 (how the fused path
#                                   scales), and one width-1,000 sweep run end to end (--device
#                                   auto: on the GPU), about 90 s more
#   tools/gpu_check.sh test         here: pack, then run on whatever Vulkan adapter this machine
#                                   has (lavapipe), with --quick, to show that the check works
#                                   end to end before a GPU is at hand
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-}
dir=${2:-$root/gpu-check}

pack() {
  local bin=${BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/collapse-explorer}
  [ -x "$bin" ] || { echo "gpu_check: no binary at $bin (run cargo build, or set BIN)" >&2; exit 1; }
  command -v zstd >/dev/null || { echo "gpu_check: pack needs zstd (apt-get install zstd)" >&2; exit 1; }
  rm -rf "$dir"; mkdir -p "$dir/lib"
  local tmp; tmp=$(mktemp -d)
  strip -o "$tmp/collapse-explorer" "$bin"
  zstd -q -19 -T0 "$tmp/collapse-explorer" -o "$dir/collapse-explorer.zst"
  # The Vulkan loader and the EGL/GL dispatch libraries wgpu opens at run time, from Debian's
  # packages (the GPU machine brings its own driver: NVIDIA's Vulkan ICD).
  if (cd "$tmp" && apt-get download libvulkan1 libegl1 libglvnd0 >/dev/null 2>&1); then
    for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
    cp -a "$tmp"/root/usr/lib/x86_64-linux-gnu/lib{vulkan,EGL,GLdispatch}.so* "$dir/lib/"
  else
    echo "gpu_check: apt-get download failed; copying this system's loader libraries" >&2
    cp -a /usr/lib/x86_64-linux-gnu/lib{vulkan,EGL,GLdispatch}.so.* "$dir/lib/"
  fi
  # A zstd to unpack with, and the libraries it needs beyond glibc.
  cp "$(command -v zstd)" "$dir/zstd"
  ldd "$(command -v zstd)" | awk '/=> \// {print $3}' | grep -v -E '/lib(c|m|pthread|dl|rt)\.so' \
    | xargs -r -I{} cp -L {} "$dir/lib/"
  cp "$root/tools/gpu_check.sh" "$dir/"
  rm -rf "$tmp"
  local size; size=$(du -sm "$dir" | cut -f1)
  echo "gpu_check: packed $dir (${size} MiB): $(ls "$dir" | tr '\n' ' ')"
  [ "$size" -le 64 ] || { echo "gpu_check: over the 64 MiB a device call carries" >&2; exit 1; }
}

run() {
  local quick=${1:-}
  [ -f "$dir/collapse-explorer.zst" ] || { echo "gpu_check: nothing packed in $dir (tools/gpu_check.sh pack)" >&2; exit 1; }
  run_tmp=$(mktemp -d); trap 'rm -rf "$run_tmp"' EXIT
  local tmp=$run_tmp
  LD_LIBRARY_PATH="$dir/lib" "$dir/zstd" -q -d "$dir/collapse-explorer.zst" -o "$tmp/collapse-explorer"
  chmod +x "$tmp/collapse-explorer"
  echo "== gpu_check $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  # Vulkan's window-system probes complain without a runtime directory; a bare machine has none.
  export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$tmp}
  # A container given the GPU for compute only may have NVIDIA's driver libraries but no
  # Vulkan ICD file naming them; make one, so that the loader finds the driver.
  local icds; icds=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null | tr '\n' ' ' || true)
  echo "Vulkan ICD files: ${icds:-none}"
  if [ -z "${VK_ICD_FILENAMES:-}" ] && ! echo "$icds" | grep -q nvidia; then
    local glx; glx=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia\.so\.0/ {print $NF; exit}')
    if [ -n "$glx" ]; then
      printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' \
        "$glx" > "$tmp/nvidia_icd.json"
      export VK_ICD_FILENAMES=$tmp/nvidia_icd.json
      echo "gpu_check: no NVIDIA Vulkan ICD file; made one for $glx"
    else
      echo "gpu_check: no NVIDIA Vulkan driver library (libGLX_nvidia.so.0) found;" \
        "NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-unset}"
    fi
  fi
  # The machine's own Vulkan loader and ICDs come first where it has them.
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$dir/lib"
  timeout "${GPU_CHECK_LIMIT:-480}" "$tmp/collapse-explorer" speed --device gpu $quick
  # How the fused CPU path scales past the 2 cores it is developed on: the same work on every
  # thread of this machine, then on 2 (the numbers are the same on any count; the time is not).
  echo "-- the CPU, all $(nproc) threads, then 2"
  timeout 150 "$tmp/collapse-explorer" speed --device cpu $quick | sed -n '/^work/,$p' || true
  RAYON_NUM_THREADS=2 timeout 150 "$tmp/collapse-explorer" speed --device cpu $quick \
    | sed -n '/^work/,$p' || true
  # One width-1,000 MoG run of a sweep, end to end (`--device auto` sends it to the GPU).
  local iters=400 n=5000 steps=''
  [ -n "$quick" ] && { iters=10; n=300; steps='steps = 20'; }
  printf '%s\n' 'name = "gpu_check"' 'seeds = [0]' '[base]' 'dataset = "mog"' 'dim = 10' \
    'depth = 2' 'width = 1000' 'n_data = 20000' "iters = $iters" 'batch = 2000' 'lr = 5e-3' \
    'samplers = ["ode", "sde"]' "n_samples = $n" "tid_points = $n" 'eps_nn = [0.5]' "$steps" \
    >"$tmp/sweep.toml"
  echo "-- one sweep run: the 10-D MoG at width 1,000, $iters iterations, ODE and SDE, $n samples"
  local s0; s0=$(date +%s)
  timeout 240 "$tmp/collapse-explorer" sweep "$tmp/sweep.toml" --out "$tmp/sweep" 2>&1 \
    | grep -E "^(device|done|FAILED)" || true
  echo "sweep wall time: $(($(date +%s) - s0)) s"
  grep -h '"train_device"\|"sample_device"\|"train_seconds"' "$tmp"/sweep/runs/*/result.json || true
}

case "$mode" in
  pack) pack ;;
  run) run ;;
  test) pack; GPU_CHECK_LIMIT=${GPU_CHECK_LIMIT:-900} run --quick ;;
  *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
