//! End-to-end: the binary's commands on real files, as a user runs them.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_collapse-explorer"))
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

    let out = bin()
        .args(["tid", "--eps", "0.05,0.1", "--json", "--train"])
        .arg(&train)
        .arg("--generated")
        .arg(&ode)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "eps",
        "tid",
        "hill_train",
        "hill_generated",
        "zero_fraction_train",
        "zero_fraction_generated",
    ] {
        assert_eq!(v[key].as_array().unwrap().len(), 2, "{key}");
    }
    // Exact score: no collapse.
    for t in v["tid"].as_array().unwrap() {
        assert!(t.as_f64().unwrap().abs() < 0.1, "{v}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.npy");
    std::fs::write(&bad, b"\x93NUMPY\x01\x00garbage").unwrap();
    let out = bin()
        .args(["tid", "--train"])
        .arg(&bad)
        .arg("--generated")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.npy"), "{err}");
    let out = bin()
        .args(["sample", "--dataset", "chessboard", "--out", "x.npy"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no exact score"));
}
