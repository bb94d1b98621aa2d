//! End-to-end: bad input, nonsense settings and closed pipes end in clear errors, never a panic.

use crate::bin;

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
