//! The smoke test's driver (`app --frames N [--screenshot out.png]`, what CI runs): once the
//! active mode shows its first results, render N more frames, check that the window is not
//! blank, report frame times and refresh rates, and close.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;

use super::shell::{is_blank, write_png};
use crate::data::Points;
use crate::sync::lock;
use crate::train::{TrainConfig, Trainer, train_run};

/// Training iterations per second of `config` on `data` with no window, analysis or drawing
/// beside it, on `threads` threads (what the app gives its trainer), over about `seconds`: the
/// rate the app's training is compared with. `None` when the run cannot be set up.
pub fn headless_rate(
    config: &TrainConfig,
    data: &Arc<Points>,
    threads: usize,
    seconds: f64,
) -> Option<f64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("smoke-headless-{i}"))
        // At the trainer's priority, like the app's own training pool.
        .spawn_handler(|thread| {
            let mut b = std::thread::Builder::new();
            if let Some(name) = thread.name() {
                b = b.name(name.to_owned());
            }
            crate::priority::spawn_foreground(b, || thread.run()).map(|_| ())
        })
        .build()
        .ok()?;
    pool.install(|| {
        let mut trainer = Trainer::new(config.clone(), data.clone()).ok()?;
        // Warm up (allocations, first-touch of the data), then time whole iterations.
        let never = std::sync::atomic::AtomicBool::new(false);
        train_run(&mut trainer, 5, &mut |_, _| {}, &never).ok()?;
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < seconds {
            train_run(&mut trainer, 10, &mut |_, _| {}, &never).ok()?;
        }
        Some((trainer.iteration() - 5) as f64 / start.elapsed().as_secs_f64())
    })
}

/// What the active mode tells the smoke test each frame.
#[derive(Clone, Debug, Default)]
pub struct SmokeProbe {
    /// The first results are shown.
    pub ready: bool,
    /// The view's name.
    pub view: String,
    /// Points drawn.
    pub points: usize,
    /// Samplers compared.
    pub samplers: usize,
    /// Sample sets received so far.
    pub sample_updates: u64,
    /// Velocity fields and metrics received so far.
    pub field_updates: u64,
    /// Training iteration.
    pub iteration: u64,
    /// Seconds of the last full analysis pass.
    pub last_pass: Option<f64>,
    /// The mode's last error, reported on a timeout.
    pub error: Option<String>,
}

/// The smoke test's progress.
pub struct Smoke {
    frames: u64,
    after_ready: u64,
    last_frame: Option<Instant>,
    /// When the first results were shown, with the probe then.
    first: Option<(Instant, SmokeProbe)>,
    /// When the training iteration last moved, and to what: the app's training rate is taken
    /// up to there, so a run that reached its iteration count does not read as a slow one.
    trained_until: Option<(Instant, u64)>,
    /// Milliseconds between frames once results are shown.
    intervals: Vec<f64>,
    start: Instant,
    timeout: Duration,
    screenshot: Option<PathBuf>,
    requested: bool,
    result: Arc<Mutex<Option<bool>>>,
    verdict: Arc<AtomicI32>,
    /// The headless training rate the app's is compared with.
    headless: Option<f64>,
}

impl Smoke {
    /// Renders `frames` frames after the first results (within `timeout`), saving the last one
    /// at `screenshot`; the verdict (0 rendered, 1 blank, unset: timed out) goes to `verdict`.
    pub fn new(
        frames: u64,
        timeout: Duration,
        screenshot: Option<PathBuf>,
        verdict: Arc<AtomicI32>,
    ) -> Self {
        Self {
            frames,
            after_ready: 0,
            last_frame: None,
            first: None,
            trained_until: None,
            intervals: Vec::new(),
            start: Instant::now(),
            timeout,
            screenshot,
            requested: false,
            result: Arc::new(Mutex::new(None)),
            verdict,
            headless: None,
        }
    }

    /// Compares the app's training rate with `rate` (from [`headless_rate`]) in the report.
    pub fn with_headless_rate(mut self, rate: Option<f64>) -> Self {
        self.headless = rate;
        self
    }

    /// One frame of the test.
    pub fn step(&mut self, ctx: &egui::Context, probe: SmokeProbe) {
        // Frames come as the app asks for them (new view data at once, status every
        // STATUS_FRAME): the test measures the app as a user runs it, not a busy loop of
        // frames. The fallback keeps a paused app (nothing asking) moving at the status rate.
        ctx.request_repaint_after(crate::app::explorer::STATUS_FRAME);
        let now = Instant::now();
        if probe.ready {
            if self.after_ready == 0 {
                self.first = Some((now, probe.clone()));
            }
            self.after_ready += 1;
            if self
                .trained_until
                .is_none_or(|(_, it)| it != probe.iteration)
            {
                self.trained_until = Some((now, probe.iteration));
            }
            if let Some(prev) = self.last_frame {
                self.intervals.push((now - prev).as_secs_f64() * 1e3);
            }
            self.last_frame = Some(now);
        }
        let done = *lock(&self.result);
        if let Some(ok) = done
            && self.verdict.swap(if ok { 0 } else { 1 }, Ordering::SeqCst) < 0
        {
            self.report(&probe);
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if self.start.elapsed() > self.timeout {
            if let Some(m) = &probe.error {
                eprintln!("{}: {m}", probe.view);
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if self.after_ready >= self.frames && !self.requested {
            self.requested = true;
            let result = self.result.clone();
            let path = self.screenshot.clone();
            let repaint = ctx.clone();
            ctx.request_screenshot(move |image| {
                let ok = !is_blank(&image);
                if let Some(p) = path
                    && let Err(e) = write_png(&p, &image)
                {
                    eprintln!("smoke test: could not write {}: {e}", p.display());
                }
                *lock(&result) = Some(ok);
                repaint.request_repaint();
            });
        }
    }

    /// Prints frame times and refresh rates since the first results.
    fn report(&mut self, now: &SmokeProbe) {
        if let Some((median, p95)) = median_p95(&mut self.intervals) {
            eprintln!(
                "frame times ({} frames after the first samples, {} tab, {} points drawn): \
                 median {median:.1} ms, p95 {p95:.1} ms",
                self.intervals.len(),
                now.view,
                now.points,
            );
        }
        if let Some((t0, first)) = &self.first {
            let secs = t0.elapsed().as_secs_f64().max(1e-9);
            let updates = now.sample_updates - first.sample_updates;
            let fields = now.field_updates - first.field_updates;
            let samplers = now.samplers.max(1) as f64;
            eprintln!(
                "refresh over {secs:.1} s: {updates} sample-set updates ({:.2} per sampler per \
                 second), {fields} field/metrics updates ({:.2} per second), training at \
                 iteration {}, last full analysis pass {}",
                updates as f64 / samplers / secs,
                fields as f64 / secs,
                now.iteration,
                now.last_pass.map_or("-".into(), |s| format!("{s:.2} s")),
            );
            let (until, last) = self.trained_until.unwrap_or((*t0, first.iteration));
            let trained = last - first.iteration;
            let secs = (until - *t0).as_secs_f64();
            if let Some(headless) = self.headless.filter(|_| trained > 0 && secs > 0.0) {
                let app = trained as f64 / secs;
                eprintln!(
                    "training in the app: {app:.0} it/s over {secs:.1} s, {:.0}% of the headless \
                     rate on the same threads ({headless:.0} it/s, measured before the window \
                     opened)",
                    100.0 * app / headless
                );
            }
        }
    }
}

/// Median and 95th percentile of `v` (sorted in place); `None` when empty.
fn median_p95(v: &mut [f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Some((at(0.5), at(0.95)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p95_of_one_to_a_hundred() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        // Indices round((100 - 1) · q): 50 → the 51st value, 94 → the 95th.
        assert_eq!(median_p95(&mut v), Some((51.0, 95.0)));
        assert_eq!(median_p95(&mut []), None);
    }
}
