//! The repository's scripts, where they run without the peers: `tools/bench_vs_jax.sh --pool`.

use std::path::Path;
use std::process::Command;

/// A log as `tools/bench_vs_jax.sh` writes it, with these per-round ratios in its three rows.
fn bench_log(path: &Path, a: &str, b: &str, ode: &str) {
    let text = format!(
        "CPU: test\ndate: 2026-12-05; rounds: 5\n\
         | work | ours | JAX (same rounds) | ratio per round | median | goal |\n\
         |---|---|---|---|---|---|\n\
         | config A training, ms/iter | 1.5-1.6 | 2.0-2.5 | {a} | **x** | >= 1.25x |\n\
         | config B training, ms/iter | 40-50 | 40-50 | {b} | **x** | >= 1.0x |\n\
         | ODE sampling, M particle-steps/s | 5-6 | 4-5 | {ode} | **x** | >= 1.3x |\n"
    );
    std::fs::write(path, text).unwrap();
}

fn pool(logs: &[&Path]) -> std::process::Output {
    Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tools/bench_vs_jax.sh"
    ))
    .arg("--pool")
    .args(logs)
    .output()
    .unwrap()
}

#[test]
fn bench_pool_takes_the_median_of_every_round_and_counts_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one.txt"), dir.path().join("two.txt"));
    // Run one: A's median 1.20 misses 1.25, B's 1.00 meets 1.0, the ODE's 1.30 meets 1.3.
    bench_log(
        &one,
        "1.00, 1.10, 1.20, 1.30, 1.40",
        "0.90, 0.95, 1.00, 1.05, 1.10",
        "1.10, 1.20, 1.30, 1.40, 1.50",
    );
    // Run two: A 1.50, B 0.95 (misses), ODE 1.35.
    bench_log(
        &two,
        "1.30, 1.40, 1.50, 1.60, 1.70",
        "0.85, 0.90, 0.95, 1.20, 1.30",
        "1.25, 1.30, 1.35, 1.40, 1.45",
    );
    let out = pool(&[&one, &two]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The ten rounds sorted: A 1.0 1.1 1.2 1.3 1.3 | 1.4 1.4 1.5 1.6 1.7, median (1.3 + 1.4) / 2;
    // B 0.85 0.9 0.9 0.95 0.95 | 1.0 1.05 1.1 1.2 1.3, median 0.975 (printed 0.97 or 0.98);
    // ODE 1.1 1.2 1.25 1.3 1.3 | 1.35 1.4 1.4 1.45 1.5, median 1.325.
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row {name} in:\n{text}"))
            .to_string()
    };
    assert!(row("config A training").contains("| 10 | 1.00-1.70 | **1.35x** | 1 of 2 |"));
    let b = row("config B training");
    assert!(
        b.contains("| 10 | 0.85-1.30 |") && b.contains("| 1 of 2 |"),
        "{b}"
    );
    assert!(b.contains("**0.97x**") || b.contains("**0.98x**"), "{b}");
    let ode = row("ODE sampling");
    assert!(
        ode.contains("| 10 | 1.10-1.50 |") && ode.contains("| 2 of 2 |"),
        "{ode}"
    );
    assert!(
        ode.contains("**1.32x**") || ode.contains("**1.33x**"),
        "{ode}"
    );
    assert!(
        text.contains("runs meeting all three goals: 0 of 2"),
        "{text}"
    );
}

#[test]
fn bench_pool_rejects_a_file_without_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "| config A training, ms/iter | no ratios here |\n").unwrap();
    let out = pool(&[&other]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notes.txt"), "{err}");
}
