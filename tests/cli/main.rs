//! End-to-end: the binary's commands on real files, as a user runs them.

use std::process::Command;

mod errors;
mod images;
mod tools;

pub(crate) fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_collapse-explorer"))
}

/// Runs `cmd` to the end and returns its output, failing the test with its stderr unless it
/// succeeded.
pub(crate) fn ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn data_sample_tid_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.npy");
    let ode = dir.path().join("ode.npy");
    let traj = dir.path().join("traj.npy");
    let st = bin()
        .args([
            "data",
            "--dataset",
            "mog1d",
            "--n",
            "4000",
            "--seed",
            "0",
            "--out",
        ])
        .arg(&train)
        .status()
        .unwrap();
    assert!(st.success());
    let st = bin()
        .args([
            "sample",
            "--dataset",
            "mog1d",
            "--model",
            "exact",
            "--sampler",
            "ode",
            "--steps",
            "50",
        ])
        .args(["--n", "4000", "--seed", "1", "--device", "cpu", "--out"])
        .arg(&ode)
        .arg("--trajectory")
        .arg(&traj)
        .status()
        .unwrap();
    assert!(st.success());
    let t = collapse_explorer::data::read_points(&ode).unwrap();
    assert_eq!((t.n, t.d), (4000, 1));
    // The trajectory is [51, 4000, 1]; read back its header.
    let bytes = std::fs::read(&traj).unwrap();
    assert!(String::from_utf8_lossy(&bytes[..128]).contains("'shape': (51, 4000, 1)"));

    let out = ok(bin()
        .args(["tid", "--eps", "0.05,0.1", "--json", "--train"])
        .arg(&train)
        .arg("--generated")
        .arg(&ode));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tid = v["tid"].as_array().unwrap();
    assert_eq!(tid.len(), 2, "{v}");
    // The protocol: 2,000 points of each set, five repeats.
    assert_eq!(v["protocol"]["points"], 2000);
    assert_eq!(v["protocol"]["repeats"], 5);
    for (t, eps) in tid.iter().zip([0.05, 0.1]) {
        assert_eq!(t["eps"].as_f64().unwrap(), eps);
        assert_eq!(t["points"], 2000);
        for key in ["std", "hill_train", "hill_generated", "zero_fraction_train"] {
            assert!(t[key].as_f64().unwrap().is_finite(), "{key}: {t}");
        }
        // Exact score: no collapse.
        assert!(t["mean"].as_f64().unwrap().abs() < 0.1, "{v}");
        // Hill k = ⌊0.1 · 2,000⌋ by default, recorded.
        assert_eq!(t["k"], 200);
    }
    // --k and --k-fraction choose k, and the JSON records it; k at or above the subset size
    // is refused with the numbers.
    for (flags, k) in [(["--k", "7"], 7), (["--k-fraction", "0.02"], 40)] {
        let out = ok(bin()
            .args(["tid", "--eps", "0.1", "--json", "--tid-repeats", "1"])
            .args(flags)
            .arg("--train")
            .arg(&train)
            .arg("--generated")
            .arg(&ode));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["tid"][0]["k"], k, "{v}");
    }
    let out = bin()
        .args(["tid", "--k", "2000", "--train"])
        .arg(&train)
        .arg("--generated")
        .arg(&ode)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("k = 2000"), "{err}");
}

/// `train` of a small model (2 x 16) on 5,000 points of the 1-D MoG into `out`, on the CPU,
/// with `extra` arguments.
fn train_small_mog1d(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    bin()
        .args([
            "train",
            "--dataset",
            "mog1d",
            "--n",
            "5000",
            "--width",
            "16",
        ])
        .args(["--depth", "2", "--device", "cpu"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// `compare --json` on a trained MoG checkpoint: one JSON object on stdout with every sampler's
/// steps, TID mean ± std at every ε, and the error correlation (the data is a mixture, so the
/// exact score is known); the human lines go to stderr.
#[test]
fn compare_json_reports_tid_and_error_correlation() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = train_small_mog1d(&run, &["--iters", "60"]);
    assert!(out.status.success());
    // The checkpoint says where it was trained: the device, and the CPU with the instruction set
    // its kernels used (a seed repeats its numbers only on one).
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("model.json")).unwrap()).unwrap();
    let cpu = meta["training"]["cpu"].as_str().unwrap_or_default();
    assert!(cpu.contains(" (") && cpu.ends_with(')'), "{meta}");
    assert!(meta["training"]["device"].is_string(), "{meta}");
    let out = bin()
        .args([
            "compare",
            "--samplers",
            "ode,ddim,sde",
            "--eta",
            "0,1",
            "--n",
            "3000",
            "--eps",
            "0.05,0.1",
        ])
        .args(["--tid-repeats", "3", "--device", "cpu", "--json", "--model"])
        .arg(&run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let samplers = v["samplers"].as_array().unwrap();
    // DDIM runs once per η.
    assert_eq!(samplers.len(), 4);
    let etas = [None, Some(0.0), Some(1.0), None];
    for ((s, name), eta) in samplers
        .iter()
        .zip(["ode", "ddim", "ddim", "sde"])
        .zip(etas)
    {
        assert_eq!(s["name"], name);
        assert_eq!(s["eta"].as_f64(), eta, "{name}");
        assert!(s["steps"].as_u64().unwrap() > 0);
        let tid = s["tid"].as_array().unwrap();
        assert_eq!(tid.len(), 2);
        assert_eq!(tid[0]["repeats"], 3);
        assert!(tid[0]["mean"].as_f64().unwrap().is_finite());
        assert!(tid[0]["std"].as_f64().unwrap() >= 0.0);
        let c = s["error_correlation"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&c), "{c}");
        for key in ["precision", "recall", "coverage"] {
            let v = s["reference"][key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{key}: {s}");
        }
        assert!(s["reference"]["density"].as_f64().unwrap() >= 0.0, "{s}");
        assert!(
            s["reference"]["energy_distance"]
                .as_f64()
                .unwrap()
                .is_finite(),
            "{s}"
        );
    }
    assert!(
        err.contains("error correlation: exact score known"),
        "{err}"
    );
    // An equal budget: every sampler gets 31 network evaluations (Heun and DPM-Solver-2 30: 15 steps), recorded.
    let out = ok(bin()
        .args([
            "compare",
            "--samplers",
            "ode,heun,dpm2,sde,ald",
            "--nfe",
            "31",
        ])
        .args([
            "--n",
            "500",
            "--eps",
            "0.1",
            "--tid-repeats",
            "1",
            "--device",
            "cpu",
        ])
        .args(["--json", "--model"])
        .arg(&run));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in v["samplers"].as_array().unwrap() {
        let nfe = s["nfe"].as_u64().unwrap();
        assert!(
            nfe == 31 || (nfe == 30 && (s["name"] == "heun" || s["name"] == "dpm2")),
            "{s}"
        );
    }
    // --nfe with --steps, or below one step of a sampler: refused, naming the flag.
    for bad in [&["--nfe", "10", "--steps", "5"][..], &["--nfe", "1"][..]] {
        let out = bin()
            .args(["compare", "--samplers", "ode,heun"])
            .args(bad)
            .arg("--model")
            .arg(&run)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("--nfe"), "{err}");
    }
    // Predictor-corrector on VP at 5 steps (10 evaluations) would write NaN: refused up
    // front, in one line that says what to change; the same for `sample`.
    let out = bin()
        .args(["compare", "--samplers", "pc", "--nfe", "10", "--model"])
        .arg(&run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("at least 21 steps"),
        "{err}"
    );
    let out = bin()
        .args([
            "sample",
            "--dataset",
            "mog1d",
            "--model",
            "exact",
            "--sampler",
            "pc",
        ])
        .args(["--steps", "5", "--n", "10", "--out"])
        .arg(dir.path().join("nan.npy"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--steps 21"), "{err}");
    assert!(!dir.path().join("nan.npy").exists());
    // η without DDIM would change nothing: refused, naming the flag.
    let out = bin()
        .args([
            "compare",
            "--samplers",
            "ode,sde",
            "--eta",
            "0.5",
            "--model",
        ])
        .arg(&run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--eta"), "{err}");
}

/// Flow matching from the command line: `train --objective flow --process linear` records
/// the objective in its sidecar, and `compare --json` on it reports the objective, TID and the
/// error correlation (through ε̂, as for every objective). An objective the architecture cannot
/// carry is refused, naming both flags.
#[test]
fn flow_matching_trains_and_compares() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("flow");
    let flow = [
        "--iters",
        "200",
        "--objective",
        "flow",
        "--process",
        "linear",
    ];
    let out = train_small_mog1d(&run, &flow);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("flow objective, linear process, uniform times"),
        "{err}"
    );
    let sidecar = std::fs::read_to_string(run.join("model.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&sidecar).unwrap();
    assert_eq!(v["net"]["objective"], "flow");
    assert_eq!(v["training"]["times"], "uniform");
    let out = ok(bin()
        .args(["compare", "--samplers", "ode,sde", "--n", "2000"])
        .args(["--eps", "0.05", "--tid-repeats", "2", "--device", "cpu"])
        .args(["--json", "--model"])
        .arg(&run));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["objective"], "flow");
    assert_eq!(v["process"], "linear");
    for s in v["samplers"].as_array().unwrap() {
        assert!(s["tid"][0]["mean"].as_f64().unwrap().is_finite(), "{s}");
        let c = s["error_correlation"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&c), "{c}");
    }
    let out = bin()
        .args([
            "train",
            "--dataset",
            "mog1d",
            "--iters",
            "5",
            "--arch",
            "skip-fixed",
        ])
        .args(["--objective", "v", "--device", "cpu", "--out"])
        .arg(dir.path().join("refused"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("objective = v cannot be used with arch = skip-fixed"),
        "{err}"
    );
}

/// `speed --quick` times every row of the performance table and prints a positive figure for
/// each, in the build being run.
#[test]
fn speed_prints_every_row() {
    let out = bin().args(["speed", "--quick"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for row in [
        "config A training",
        "config B training",
        "ode sampling",
        "sde sampling",
        "TID, n = 2,000",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no '{row}' row in\n{stdout}"));
        let figure: f64 = line[44..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no figure in '{line}'"));
        assert!(figure > 0.0 && figure.is_finite(), "{line}");
    }
    assert!(stdout.contains("no debug assertions"), "{stdout}");
}
