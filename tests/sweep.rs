//! End-to-end: `collapse-explorer sweep` as a user runs it, interrupted and resumed.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_collapse-explorer"))
}

/// A sweep killed with SIGKILL in the middle of its runs resumes with nothing lost (issue
/// #16): every result.json present after the kill is whole, the rerun keeps those runs
/// byte for byte, runs the rest, and the summary holds every run once.
#[test]
fn a_killed_sweep_resumes_with_nothing_lost() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("tiny.toml");
    std::fs::write(
        &spec,
        r#"
        name = "tiny"
        seeds = [0, 1, 2, 3]
        [base]
        dataset = "mog1d"
        n_data = 2000
        width = 16
        depth = 2
        iters = 3000
        batch = 256
        samplers = ["ode", "sde"]
        steps = 40
        n_samples = 600
        tid_points = 300
        tid_repeats = 2
        metric_draws = 500
        [grid]
        width = [8, 16]
        "#,
    )
    .unwrap();
    let out = dir.path().join("res");
    let results = || -> Vec<std::path::PathBuf> {
        let runs = out.join("runs");
        let Ok(entries) = std::fs::read_dir(&runs) else {
            return Vec::new();
        };
        let mut v: Vec<_> = entries
            .filter_map(|e| Some(e.ok()?.path().join("result.json")))
            .filter(|p| p.exists())
            .collect();
        v.sort();
        v
    };
    let mut child = bin()
        .arg("sweep")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while results().len() < 2 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let before = results();
    assert!(
        before.len() >= 2 && before.len() < 8,
        "{} finished before the kill",
        before.len()
    );
    let saved: Vec<Vec<u8>> = before.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for (p, bytes) in before.iter().zip(&saved) {
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .unwrap_or_else(|e| panic!("{} is half-written: {e}", p.display()));
        assert!(v["samplers"].as_array().is_some_and(|s| s.len() == 2));
    }
    let st = bin()
        .arg("sweep")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let after = results();
    assert_eq!(after.len(), 8);
    // Without a terminal (a log file, a SLURM job), each finished run is a line of its own.
    let log = String::from_utf8_lossy(&st.stderr);
    let todo = 8 - before.len();
    assert_eq!(
        log.lines().filter(|l| l.starts_with("done [")).count(),
        todo,
        "{log}"
    );
    assert!(log.contains(&format!("done [{todo}/{todo}]")), "{log}");
    for (p, bytes) in before.iter().zip(&saved) {
        assert_eq!(
            &std::fs::read(p).unwrap(),
            bytes,
            "{} changed on resume",
            p.display()
        );
    }
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 8, "{csv}");
}

/// `sweep --device gpu` trains and samples on burn's wgpu backend (Mesa's lavapipe here and in
/// CI), records where each part ran, and gives the CPU's numbers: the same loss to rounding and
/// the same TID and coverage.
#[test]
fn a_sweep_on_the_gpu_records_its_device_and_matches_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let spec =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sweeps/tiny.toml");
    let run = |device: &str| -> serde_json::Value {
        let out = dir.path().join(device);
        let st = bin()
            .arg("sweep")
            .arg(&spec)
            .args(["--device", device, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&st.stderr);
        assert!(st.status.success(), "{log}");
        assert!(log.contains("\ndevice: "), "the device is named: {log}");
        // Vulkan's Wayland probe, without a desktop session, is kept quiet.
        assert!(!log.contains("XDG_RUNTIME_DIR"), "{log}");
        let text = std::fs::read_to_string(out.join("runs/seed=0/result.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let (cpu, gpu) = (run("cpu"), run("gpu"));
    for part in ["train_device", "sample_device"] {
        let (c, g) = (cpu[part].as_str().unwrap(), gpu[part].as_str().unwrap());
        assert!(c.starts_with("CPU (burn flex)"), "{c}");
        assert!(g.starts_with("GPU (burn wgpu"), "{g}");
    }
    // The CPU and its kernels' instruction set are recorded either way.
    let line = cpu["cpu"].as_str().unwrap();
    assert!(line.ends_with(')') && line.contains(" ("), "{line}");
    let loss = |r: &serde_json::Value| r["final_loss"].as_f64().unwrap();
    assert!(
        (loss(&cpu) - loss(&gpu)).abs() < 1e-5 * loss(&cpu),
        "{} against {}",
        loss(&cpu),
        loss(&gpu)
    );
    for (c, g) in cpu["samplers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(gpu["samplers"].as_array().unwrap())
    {
        let tid = |s: &serde_json::Value| s["tid"][0]["mean"].as_f64().unwrap();
        let coverage = |s: &serde_json::Value| s["reference"]["coverage"].as_f64().unwrap();
        assert!((tid(c) - tid(g)).abs() < 0.01, "{c} against {g}");
        assert!((coverage(c) - coverage(g)).abs() < 0.01, "{c} against {g}");
    }
}
