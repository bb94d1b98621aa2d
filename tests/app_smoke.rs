//! The app starts, trains, analyses and renders in a real window: run under Xvfb (started here
//! when no display is set; `.ci/run` installs it with Mesa's software Vulkan), with
//! `--frames N`, which exits non-zero if no samples were drawn or the frame is blank.

use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Xvfb(Child);

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A display to run on: `$DISPLAY`, or a fresh Xvfb. Xvfb picks a free display number itself
/// (`-displayfd`) and writes it once it accepts connections, so tests running at once never
/// share one, and locks or sockets left by an Xvfb that was killed are skipped, not reused.
fn display() -> (String, Option<Xvfb>) {
    if let Ok(d) = std::env::var("DISPLAY")
        && !d.is_empty()
    {
        return (d, None);
    }
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1600x1000x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("no $DISPLAY and Xvfb could not start: install xvfb (see .ci/run)");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("piped stdout")),
        &mut line,
    )
    .expect("reading Xvfb's display number");
    let guard = Xvfb(child);
    let number: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Xvfb did not report a display (got {line:?})"));
    (format!(":{number}"), Some(guard))
}

/// Runs the app with `args` under a display, with `--frames N --screenshot`, and checks that it
/// succeeded and wrote a real PNG of the window.
fn smoke(frames: u32, args: &[&str], extra: &[(&str, &Path)]) {
    let (display, _xvfb) = display();
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("smoke.png");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_collapse-explorer"));
    cmd.arg("app")
        .args(["--frames", &frames.to_string(), "--timeout", "400"])
        .args(args);
    for (flag, path) in extra {
        cmd.arg(flag).arg(path);
    }
    let out = cmd
        .arg("--screenshot")
        .arg(&shot)
        .env("DISPLAY", &display)
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let log = format!(
        "app {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e})\n{log}"));
    assert_eq!(&bytes[1..4], b"PNG");
    assert!(
        bytes.len() > 20_000,
        "suspiciously small frame: {} bytes",
        bytes.len()
    );
}

/// Runs a CLI command that must succeed (e.g. training what the app then opens).
fn cli(args: &[&str], out: &Path) {
    let st = Command::new(env!("CARGO_BIN_EXE_collapse-explorer"))
        .args(args)
        .arg("--out")
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success(), "{args:?} failed");
}

#[test]
fn app_trains_and_renders_under_a_display() {
    smoke(5, &[], &[]);
}

/// A checkpoint written by `train` opens in the app (`--checkpoint`), is analysed and drawn.
#[test]
fn app_opens_a_trained_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    cli(
        &[
            "train",
            "--dataset",
            "ring-mog",
            "--n",
            "5000",
            "--width",
            "16",
            "--depth",
            "2",
            "--iters",
            "50",
            "--device",
            "cpu",
        ],
        &run,
    );
    smoke(3, &["--tab", "velocity"], &[("--checkpoint", &run)]);
}

/// The Images view opens a U-Net written by `train-unet`, samples ODE and SDE images, and draws
/// the grids, the neighbour grid and the TID curves.
#[test]
fn app_images_view_samples_a_unet() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("unet");
    cli(
        &[
            "train-unet",
            "--data",
            "procedural",
            "--n",
            "300",
            "--size",
            "8",
            "--config",
            "tiny",
            "--iters",
            "3",
            "--batch",
            "8",
        ],
        &run,
    );
    smoke(
        3,
        &["--tab", "images", "--image-n", "48", "--image-steps", "4"],
        &[("--unet", &run)],
    );
}
