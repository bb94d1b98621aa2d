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
        let out = bin()
            .args(["tid", "--eps", "0.1", "--json", "--tid-repeats", "1"])
            .args(flags)
            .arg("--train")
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
    let out = bin()
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
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let out = bin()
        .args(["compare", "--samplers", "ode,sde", "--n", "2000"])
        .args(["--eps", "0.05", "--tid-repeats", "2", "--device", "cpu"])
        .args(["--json", "--model"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

/// Output into a pipe whose reader has gone (`| head` that stopped early) ends the command
/// quietly, by SIGPIPE as it ends other Unix tools, rather than with a panic about a broken
/// pipe. The read end is closed at once, and the dry run of a 4,000-run grid prints far more
/// than a pipe holds, so the command writes into the closed pipe even when another test's
/// child process briefly holds a copy of the read end.
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("big.toml");
    let widths: Vec<String> = (1..=4000).map(|w| w.to_string()).collect();
    std::fs::write(
        &spec,
        format!(
            "[base]\ndataset = \"mog1d\"\n[grid]\nwidth = [{}]\n",
            widths.join(", ")
        ),
    )
    .unwrap();
    let mut child = bin()
        .args(["sweep", "--dry-run", "--out"])
        .arg(dir.path().join("out"))
        .arg(&spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // Signal 13 is SIGPIPE.
    assert_eq!(out.status.signal(), Some(13), "{:?}: {err}", out.status);
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

/// `train-unet` on a tiny procedural set, then `images` on its checkpoint: TID table, sample and
/// nearest-neighbour grids, JSON; a training set of another size is a clear error.
#[test]
fn train_unet_then_images() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("unet");
    let out = bin()
        .args([
            "train-unet",
            "--data",
            "procedural",
            "--n",
            "64",
            "--size",
            "8",
        ])
        .args(["--config", "tiny", "--iters", "3", "--batch", "8", "--out"])
        .arg(&ckpt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "model.safetensors",
        "model.json",
        "ema.safetensors",
        "training.json",
    ] {
        assert!(ckpt.join(f).exists(), "{f}");
    }
    let res = dir.path().join("res");
    let out = bin()
        .args(["images", "--checkpoint"])
        .arg(&ckpt)
        .args([
            "--n", "40", "--steps", "3", "--tid-n", "40", "--eps", "0.5,2",
        ])
        .args(["--queries", "2", "--k", "3", "--device", "cpu", "--out"])
        .arg(&res)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("TID") && stdout.contains("sde"), "{stdout}");
    for f in [
        "samples_ode.png",
        "samples_sde.png",
        "nn_query0.png",
        "nn_query1.png",
    ] {
        assert!(res.join(f).exists(), "{f}");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(res.join("images.json")).unwrap()).unwrap();
    assert_eq!(v["samplers"].as_array().unwrap().len(), 2);
    assert_eq!(v["samplers"][0]["tid"].as_array().unwrap().len(), 2);
    assert_eq!(v["queries"][0]["neighbours"].as_array().unwrap().len(), 3);
    // The NN grid: 3 rows of 1 + 3 tiles of 8·8 pixels (scale 8), gaps 1 and 1 + 8.
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(res.join("nn_query0.png")).unwrap(),
    ));
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (4 * 64 + 5 + 9, 3 * 64 + 4));

    // A 16×16 training set for an 8×8 model.
    let out = bin()
        .args(["images", "--checkpoint"])
        .arg(&ckpt)
        .args([
            "--data",
            "procedural",
            "--data-n",
            "50",
            "--data-size",
            "16",
        ])
        .args(["--n", "10", "--out"])
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("16×16") && err.contains("8×8"), "{err}");
    // A missing checkpoint.
    let out = bin()
        .args(["images", "--checkpoint", "/nonexistent/unet", "--out"])
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

/// A diffusers directory written by diffusers' own `save_pretrained`
/// (`tools/make_diffusers_fixture.py`) opens in `unet-eval`, which gives diffusers' ε̂ to 1e-4
/// and states its convention, and in `images`.
#[test]
fn diffusers_directory_in_unet_eval_and_images() {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusers");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("reference.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    for (name, range) in [("ddpm", [-1.0, 1.0]), ("legacy", [0.0, 1.0])] {
        let r = &reference[name];
        let (x, eps, t) = (floats(&r["x"]), floats(&r["eps"]), floats(&r["t"]));
        let per = x.len() / t.len();
        // One image per call: unet-eval takes one t for its whole batch.
        for (i, &ti) in t.iter().enumerate() {
            let xin = dir.path().join(format!("{name}{i}.npy"));
            let xout = dir.path().join(format!("{name}{i}-eps.npy"));
            collapse_explorer::data::io::write_npy(&xin, &[1, 3, 8, 8], &x[i * per..(i + 1) * per])
                .unwrap();
            let out = bin()
                .args(["unet-eval", "--checkpoint"])
                .arg(fixtures.join(name))
                .arg("--x")
                .arg(&xin)
                .args(["--t", &ti.to_string(), "--json", "--out"])
                .arg(&xout)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["prediction_type"], "epsilon");
            assert_eq!(v["data_range"][0].as_f64().unwrap(), range[0]);
            let label = v["time_label"].as_f64().unwrap();
            let want = r["timesteps"][i].as_f64().unwrap();
            assert!((label - want).abs() < 1e-3, "{label} vs {want}");
            assert!(
                v["time_input"].as_str().unwrap().contains("N = 1000"),
                "{v}"
            );
            // A float32 .npy [1, 3, 8, 8]: the header names the shape, the values end the file.
            let bytes = std::fs::read(&xout).unwrap();
            assert!(String::from_utf8_lossy(&bytes[..128]).contains("'shape': (1, 3, 8, 8)"));
            let got: Vec<f32> = bytes[bytes.len() - 4 * per..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let err = got
                .iter()
                .zip(&eps[i * per..(i + 1) * per])
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err <= 1e-4, "{name} image {i}: {err}");
        }
    }
    // A batch of the wrong size is refused with the shape the network takes.
    let bad = dir.path().join("bad.npy");
    collapse_explorer::data::io::write_npy(&bad, &[1, 3, 16, 16], &[0.0; 768]).unwrap();
    let out = bin()
        .args(["unet-eval", "--checkpoint"])
        .arg(fixtures.join("ddpm"))
        .arg("--x")
        .arg(&bad)
        .args(["--t", "0.5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[B, 3, 8, 8]"), "{err}");

    // The images study on the diffusers network, with procedural 8×8 training images.
    let res = dir.path().join("res");
    let out = bin()
        .args(["images", "--checkpoint"])
        .arg(fixtures.join("ddpm"))
        .args(["--data", "procedural", "--data-n", "60", "--data-size", "8"])
        .args(["--n", "12", "--steps", "2", "--tid-n", "12", "--eps", "1,4"])
        .args(["--queries", "1", "--k", "2", "--device", "cpu", "--out"])
        .arg(&res)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("forward passes"), "{stderr}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(res.join("images.json")).unwrap()).unwrap();
    assert!(
        v["model"]
            .as_str()
            .unwrap()
            .contains("diffusers UNet2DModel"),
        "{v}"
    );
}

/// `train --data picture.png` traces the picture into --n points and records it in the
/// checkpoint, which `compare` reopens (tracing it again from the recorded seed).
#[test]
fn train_on_a_traced_picture() {
    let dir = tempfile::tempdir().unwrap();
    let smiley = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/data/smiley.png");
    let run = dir.path().join("run");
    let out = bin()
        .args(["train", "--data"])
        .arg(&smiley)
        .args([
            "--n", "3000", "--iters", "20", "--width", "16", "--depth", "1", "--batch", "200",
        ])
        .args(["--device", "cpu", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("model.json")).unwrap()).unwrap();
    assert_eq!(meta["data"]["source"], "picture", "{meta}");
    assert_eq!(meta["data"]["n"], 3000);
    let out = bin()
        .args(["compare", "--model"])
        .arg(&run)
        .args(["--samplers", "ode,sde", "--n", "500", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["samplers"].as_array().unwrap().len(), 2);
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

/// Headless commands stay quiet on a machine without a desktop session: the GPU probe's
/// drivers print "error: XDG_RUNTIME_DIR is invalid…" there, and none of it may reach the
/// user's terminal (issue #16).
#[test]
fn headless_commands_print_no_driver_noise() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let quiet = |args: &[&str]| {
        let out = bin()
            .args(args)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DISPLAY")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(
            !err.contains("XDG_RUNTIME_DIR"),
            "{args:?} printed driver noise:\n{err}"
        );
    };
    let run_s = run.to_str().unwrap();
    quiet(
        &[
            "train",
            "--dataset",
            "mog1d",
            "--n",
            "500",
            "--width",
            "8",
            "--depth",
            "1",
        ]
        .iter()
        .copied()
        .chain(["--iters", "5", "--out", run_s])
        .collect::<Vec<_>>(),
    );
    let s = dir.path().join("s.npy");
    quiet(
        &[
            "sample",
            "--dataset",
            "mog1d",
            "--model",
            run_s,
            "--sampler",
            "ode",
            "--n",
            "50",
        ]
        .iter()
        .copied()
        .chain(["--out", s.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    quiet(&[
        "sample",
        "--dataset",
        "mog1d",
        "--model",
        "exact",
        "--n",
        "50",
        "--out",
        s.to_str().unwrap(),
    ]);
    quiet(&["demo", "--dataset", "mog1d", "--n", "300"]);
}

/// Nonsense sizes and sampler settings are clear errors that name the flag, never a panic, an
/// abort or a silent success (issue #16): zero sizes, a NaN learning rate, settings outside a
/// sampler's range, and sizes beyond this machine's memory (checked before allocating).
#[test]
fn nonsense_sizes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let out = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["train", "--dataset", "chessboard", "--width", "0"],
            "--width",
        ),
        (
            &["train", "--dataset", "chessboard", "--depth", "0"],
            "--depth",
        ),
        (
            &["train", "--dataset", "chessboard", "--batch", "0"],
            "--batch",
        ),
        (&["train", "--dataset", "chessboard", "--lr", "nan"], "--lr"),
        (
            &["train", "--dataset", "chessboard", "--n", "100000000000000"],
            "--n",
        ),
        (
            &["train", "--dataset", "chessboard", "--width", "10000000000"],
            "--width",
        ),
        (
            &["data", "--dataset", "chessboard", "--n", "100000000000"],
            "--n",
        ),
        (&["sample", "--dataset", "mog1d", "--steps", "0"], "--steps"),
        (
            &[
                "sample",
                "--dataset",
                "mog1d",
                "--sampler",
                "ddim",
                "--eta",
                "1.5",
            ],
            "--eta",
        ),
        (
            &[
                "sample",
                "--dataset",
                "mog1d",
                "--sampler",
                "ode",
                "--eta",
                "0.5",
            ],
            "--eta",
        ),
        (
            &[
                "sample",
                "--dataset",
                "mog1d",
                "--sampler",
                "pc",
                "--corrector-steps",
                "0",
            ],
            "--corrector-steps",
        ),
        (
            &[
                "sample",
                "--dataset",
                "mog1d",
                "--sampler",
                "ald",
                "--snr=-1",
            ],
            "--snr",
        ),
        (
            &[
                "tid",
                "--train",
                "a.npy",
                "--generated",
                "b.npy",
                "--tid-repeats",
                "0",
            ],
            "--tid-repeats",
        ),
        (
            &[
                "sweep",
                "--preset",
                "seesaw",
                "--reuse-training",
                "no-such-results-dir",
            ],
            "--reuse-training",
        ),
    ];
    for (args, flag) in cases {
        let mut cmd = bin();
        cmd.args(*args);
        if args[0] != "tid" {
            cmd.args(["--out", out]);
        }
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert_eq!(
            o.status.code(),
            Some(if err.contains("invalid value") { 2 } else { 1 }),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(flag),
            "{args:?}: the error does not name {flag}:\n{err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{args:?}:\n{err}"
        );
    }
}

/// Every error case the CLI is known to meet ends with a non-zero exit and one `error:` line
/// in which no text appears twice (each layer adds context without repeating its source).
#[test]
fn errors_are_one_line_with_no_repeated_text() {
    let dir = tempfile::tempdir().unwrap();
    let bad_csv = dir.path().join("bad.csv");
    std::fs::write(&bad_csv, "x,y\n1,2\nfoo,3\n").unwrap();
    let not_npy = dir.path().join("d3.npy");
    std::fs::write(&not_npy, b"\x93NUMPY\x01\x00garbage").unwrap();
    let out = dir.path().join("out");
    let d = dir.path().to_str().unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec![
            "train".into(),
            "--data".into(),
            bad_csv.to_str().unwrap().into(),
            "--iters".into(),
            "1".into(),
        ],
        vec![
            "train".into(),
            "--data".into(),
            not_npy.to_str().unwrap().into(),
            "--iters".into(),
            "1".into(),
        ],
        vec![
            "train".into(),
            "--data".into(),
            format!("{d}/missing.csv"),
            "--iters".into(),
            "1".into(),
        ],
        vec!["sample".into(), "--model".into(), d.into()],
        vec![
            "sample".into(),
            "--dataset".into(),
            "mog1d".into(),
            "--model".into(),
            "exact".into(),
            "--sampler".into(),
            "pc".into(),
            "--steps".into(),
            "5".into(),
            "--n".into(),
            "10".into(),
        ],
    ];
    for args in cases {
        let o = bin().args(&args).arg("--out").arg(&out).output().unwrap();
        assert!(!o.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&o.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        let segments: Vec<&str> = errors[0]["error:".len()..]
            .split(": ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        for (i, s) in segments.iter().enumerate() {
            assert!(
                !segments[i + 1..].contains(s),
                "{args:?}: '{s}' repeats in {}",
                errors[0]
            );
        }
    }
}
