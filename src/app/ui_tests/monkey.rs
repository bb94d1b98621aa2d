//! A seeded monkey test of the real app: thousands of random user actions across the tabs,
//! as a user's clicks, drags, keys and typing reach egui (through AccessKit and pointer events),
//! with the trainer and analysis threads running for real. After every action the app's
//! invariants are checked; every few hundred actions the input stops until the status line
//! has caught up with the trainer thread, and then they must agree.
//!
//! `MONKEY_EVENTS` and `MONKEY_SEED` change the length and the seed (default 10,000 and 1);
//! a failure prints the seed and the last actions, so that it can be replayed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use eframe::egui::{Key, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::app_with;
use crate::app::views::Tab;
use crate::app::{AppOptions, ExplorerApp};
use crate::data::DatasetKind;
use crate::diffusion::SamplerKind;

/// What the monkey can do, with how often (relative weights).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Click a tab by its label.
    Tab,
    /// Paint a stroke on the Draw view's canvas, sometimes train on the drawing.
    Draw,
    /// "Restart" or "Apply and restart".
    Restart,
    /// "Train" or "Pause", whichever is shown.
    TrainOrPause,
    /// "Step" (a single iteration while paused).
    Step,
    /// Pick another dataset from the combo box (applied by a later restart).
    Dataset,
    /// Type a path that does not exist into the Data field and train on it.
    BadDataPath,
    /// Type a path that does not exist into the Images view's U-Net field and sample.
    BadImagesPath,
    /// Predictor-corrector on, at 5 steps (its state stops being finite on VP), or back off.
    PcAtFiveSteps,
    /// F5: presentation mode on or off.
    Present,
    /// Nothing: time passes while the threads work.
    Idle,
}

const WEIGHTS: [(Action, u32); 11] = [
    (Action::Tab, 16),
    (Action::Draw, 10),
    (Action::Restart, 8),
    (Action::TrainOrPause, 8),
    (Action::Step, 5),
    (Action::Dataset, 4),
    (Action::BadDataPath, 3),
    (Action::BadImagesPath, 2),
    (Action::PcAtFiveSteps, 4),
    (Action::Present, 3),
    (Action::Idle, 37),
];

/// How many of each thing happened, so the test can say it exercised them.
#[derive(Debug, Default)]
struct Tally {
    done: [u32; WEIGHTS.len()],
    /// Actions that found nothing to act on (a folded panel, a disabled button).
    skipped: u32,
    restarts_during_analysis: u32,
    sampler_failures_seen: u32,
    settle_checks: u32,
    frames: u64,
}

struct Monkey {
    h: Harness<'static, ExplorerApp>,
    rng: StdRng,
    seed: u64,
    tally: Tally,
    /// The last actions, for the failure message.
    log: VecDeque<String>,
    generation: u64,
    _tmp: tempfile::TempDir,
}

impl Monkey {
    fn new(seed: u64) -> Self {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let mut h = app_with(AppOptions {
            // Small analysis passes, so that many begin and end (and get interrupted).
            samples: Some(1000),
            train_threads: Some(1),
            ..AppOptions::default()
        });
        // "Train on drawing" writes here, not into the working directory.
        h.state_mut().explorer.draw.save_path =
            tmp.path().join("drawing.npy").display().to_string();
        h.run_steps(2);
        Self {
            h,
            rng: StdRng::seed_from_u64(seed),
            seed,
            tally: Tally::default(),
            log: VecDeque::new(),
            generation: 0,
            _tmp: tmp,
        }
    }

    /// Fails the test with the seed and the last actions.
    #[track_caller]
    fn fail(&self, what: String) -> ! {
        let log: Vec<&str> = self.log.iter().map(String::as_str).collect();
        panic!(
            "{what}\n(MONKEY_SEED={}; last actions, oldest first:\n  {})",
            self.seed,
            log.join("\n  ")
        );
    }

    fn note(&mut self, what: String) {
        if self.log.len() == 24 {
            self.log.pop_front();
        }
        self.log.push_back(what);
    }

    /// Clicks the widget named `label` (the last one, when a popup repeats a name); false when
    /// none is shown.
    fn click(&self, label: &str) -> bool {
        match self.h.query_all_by_label(label).last() {
            Some(node) => {
                node.click();
                true
            }
            None => false,
        }
    }

    /// Runs the frames for the queued input (one per event).
    fn frames(&mut self) {
        self.h.step();
        self.tally.frames += 1;
    }

    fn pick(&mut self) -> Action {
        let total: u32 = WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut r = self.rng.random_range(0..total);
        for (a, w) in WEIGHTS {
            if r < w {
                return a;
            }
            r -= w;
        }
        unreachable!()
    }

    /// Does `action`; false when there was nothing to act on.
    fn act(&mut self, action: Action) -> bool {
        match action {
            Action::Tab => {
                let (_, label) = Tab::ALL[self.rng.random_range(0..Tab::ALL.len())];
                self.note(format!("tab {label}"));
                self.click(label)
            }
            Action::Draw => self.draw(),
            Action::Restart => {
                let analysing = self.h.state().explorer.state().analysis_progress.is_some();
                let clicked = self.click("Restart") || self.click("Apply and restart");
                if clicked && analysing {
                    self.tally.restarts_during_analysis += 1;
                }
                self.note(format!("restart (during a pass: {analysing})"));
                clicked
            }
            Action::TrainOrPause => {
                self.note("train or pause".into());
                self.click("Pause") || self.click("Train")
            }
            Action::Step => {
                self.note("step".into());
                self.click("Step")
            }
            Action::Dataset => {
                let d = DatasetKind::ALL[self.rng.random_range(0..DatasetKind::ALL.len())];
                self.note(format!("dataset {}", d.name()));
                if !self.click("dataset") {
                    return false;
                }
                // The popup opens on the release, and lists its options the frame after.
                self.frames();
                self.frames();
                self.click(d.name())
            }
            Action::BadDataPath => {
                let path = format!("/nonexistent/monkey-{}.npy", self.rng.random::<u16>());
                self.note(format!("data path {path}"));
                self.type_into(
                    "or your own points (.npy, CSV) or picture (PNG, JPEG)",
                    &path,
                ) && {
                    self.frames();
                    self.click("Train on it")
                }
            }
            Action::BadImagesPath => {
                let path = format!("/nonexistent/unet-{}", self.rng.random::<u16>());
                self.note(format!("images path {path}"));
                if !self.h.state().images_shown && !self.click("Images") {
                    return false;
                }
                self.frames();
                self.frames();
                self.type_into("U-Net", &path) && {
                    self.frames();
                    self.click("Sample ODE and SDE")
                }
            }
            Action::PcAtFiveSteps => {
                let on = self.rng.random_bool(0.6);
                self.note(format!("pc at 5 steps: {on}"));
                let config = self.h.state_mut().explorer.config_mut();
                let pc = config
                    .samplers
                    .iter_mut()
                    .find(|s| s.kind == SamplerKind::PredictorCorrector)
                    .expect("the panel lists PC");
                pc.enabled = on;
                pc.steps = 5;
                true
            }
            Action::Present => {
                self.note("F5".into());
                self.h.key_press(Key::F5);
                true
            }
            Action::Idle => {
                let ms = self.rng.random_range(0..20);
                self.note(format!("idle {ms} ms"));
                std::thread::sleep(Duration::from_millis(ms));
                true
            }
        }
    }

    /// Replaces the text of the input named `label` with `text`.
    fn type_into(&self, label: &str, text: &str) -> bool {
        match self.h.query_all_by_label(label).last() {
            Some(node) => {
                node.focus();
                node.set_text_value_accesskit(text);
                true
            }
            None => false,
        }
    }

    /// A stroke of a few pointer moves on the canvas below the Draw view's tool rows; now and
    /// then, training on the drawing.
    fn draw(&mut self) -> bool {
        let below = self
            .h
            .query_all_by_label("Train on drawing")
            .last()
            .map(|n| n.rect());
        let Some(row) = below else {
            self.note("draw: not on the Draw view".into());
            return false;
        };
        let at = |rng: &mut StdRng| {
            Pos2::new(
                row.left() + rng.random_range(60.0..360.0),
                row.bottom() + rng.random_range(60.0..360.0),
            )
        };
        let points: Vec<Pos2> = (0..self.rng.random_range(2..8))
            .map(|_| at(&mut self.rng))
            .collect();
        self.note(format!("draw a stroke of {} moves", points.len()));
        self.h.hover_at(points[0]);
        self.h.drag_at(points[0]);
        for p in &points[1..] {
            self.h.hover_at(*p);
        }
        self.h.drop_at(*points.last().expect("two points or more"));
        if self.rng.random_bool(0.1) {
            self.frames();
            self.note("train on drawing".into());
            self.click("Train on drawing");
        }
        true
    }

    /// What must hold after every action.
    fn check(&mut self, event: usize) {
        let app = self.h.state();
        let g = app.explorer.generation();
        let s = app.explorer.state();
        if g < self.generation {
            self.fail(format!(
                "event {event}: the generation went back from {} to {g}",
                self.generation
            ));
        }
        if s.generation != g {
            self.fail(format!(
                "event {event}: the views hold generation {} but the run is {g}",
                s.generation
            ));
        }
        if let Some(r) = s.samples.iter().find(|r| r.generation != g) {
            self.fail(format!(
                "event {event}: samples of generation {} shown in run {g}",
                r.generation
            ));
        }
        if s.failures.iter().any(|f| f.generation != g) {
            self.fail(format!("event {event}: a stale sampler failure is shown"));
        }
        if s.samples
            .iter()
            .any(|r| r.samples.data.iter().any(|v| !v.is_finite()))
        {
            self.fail(format!("event {event}: non-finite samples are shown"));
        }
        if let Some(m) = &s.message
            && m.contains("panicked")
        {
            self.fail(format!("event {event}: a thread panicked: {m}"));
        }
        if !s.failures.is_empty() {
            self.tally.sampler_failures_seen += 1;
        }
        self.generation = g;
    }

    /// Stops the input until the status line has heard from the trainer thread, then checks
    /// that they agree: the same run, running or not, and (paused) the same iteration.
    fn settle(&mut self, event: usize) {
        self.tally.settle_checks += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.frames();
            let app = self.h.state();
            let (s, t) = (app.explorer.state(), app.explorer.trainer_status());
            let agree = t.generation() == s.generation
                && t.running() == s.running
                && (s.running || t.iteration() == s.iteration);
            if agree {
                return;
            }
            if Instant::now() > deadline {
                let said = format!(
                    "event {event}: 10 s after the last input the status line says generation {}, \
                     {} at iteration {}, but the trainer is at generation {}, {} at iteration {}",
                    s.generation,
                    if s.running { "training" } else { "paused" },
                    s.iteration,
                    t.generation(),
                    if t.running() { "training" } else { "paused" },
                    t.iteration()
                );
                self.fail(said);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// 10,000 seeded random actions on the real app: no panic, the generation never goes back,
/// the views never show another run's results or non-finite samples, and the status line
/// comes to agree with the trainer thread.
#[test]
fn ten_thousand_random_actions_keep_the_app_consistent() {
    let events = env_or("MONKEY_EVENTS", 10_000) as usize;
    let seed = env_or("MONKEY_SEED", 1);
    let mut m = Monkey::new(seed);
    let started = Instant::now();
    for event in 0..events {
        let action = m.pick();
        let i = WEIGHTS
            .iter()
            .position(|(a, _)| *a == action)
            .expect("listed");
        if m.act(action) {
            m.tally.done[i] += 1;
        } else {
            m.tally.skipped += 1;
        }
        m.frames();
        m.check(event);
        if event % 250 == 249 {
            m.settle(event);
        }
    }
    m.settle(events);
    let t = &m.tally;
    eprintln!(
        "monkey: {events} actions (seed {seed}) in {:.1} s, {} frames; done {:?}; skipped {}; \
         restarts during a pass {}; checks with a failed sampler shown {}; settle checks {}",
        started.elapsed().as_secs_f64(),
        t.frames,
        WEIGHTS
            .iter()
            .zip(t.done)
            .map(|((a, _), n)| format!("{a:?} {n}"))
            .collect::<Vec<_>>(),
        t.skipped,
        t.restarts_during_analysis,
        t.sampler_failures_seen,
        t.settle_checks
    );
    // The run exercised what it is for (at the default length; a short replay may not).
    if events >= 10_000 {
        for ((a, _), n) in WEIGHTS.iter().zip(t.done) {
            assert!(n > 0, "no {a:?} action took effect");
        }
        assert!(
            t.restarts_during_analysis > 0,
            "no restart hit an analysis pass"
        );
        assert!(
            t.sampler_failures_seen > 0,
            "PC at 5 steps never showed its failure"
        );
    }
}
