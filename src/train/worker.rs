//! The trainer thread: owns a [`Trainer`], takes [`TrainCommand`]s, publishes [`TrainEvent`]s.
//!
//! Channels are bounded. Progress events are coalesced (at most one per `progress_every`); a
//! full event channel never blocks training: the event is dropped and counted. Snapshots go to
//! a single-slot mailbox that always holds the newest one, so a slow analysis side only ever
//! skips stale snapshots and training never waits for it.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TryRecvError, TrySendError, bounded};

use super::{TrainConfig, TrainError, Trainer};
use crate::data::Points;

mod messages;
pub use messages::{
    Generation, PublishSettings, Snapshot, SnapshotSlot, TrainCommand, TrainEvent, TrainerStatus,
};

/// The UI's side of the trainer thread; dropping it stops the thread and joins it.
pub struct TrainerHandle {
    commands: Sender<TrainCommand>,
    events: Receiver<TrainEvent>,
    /// Newest weights, for the analysis thread.
    pub snapshots: Arc<SnapshotSlot>,
    /// What the thread is doing now.
    pub status: Arc<TrainerStatus>,
    dropped_events: Arc<std::sync::atomic::AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl TrainerHandle {
    /// Starts the trainer thread with a first run (paused). `wake` is called after events are
    /// sent (the app passes `ctx.request_repaint`).
    pub fn spawn(
        config: TrainConfig,
        data: Arc<Points>,
        publish: PublishSettings,
        wake: Box<dyn Fn() + Send + Sync>,
    ) -> Self {
        let (cmd_tx, cmd_rx) = bounded(64);
        let (ev_tx, ev_rx) = bounded(256);
        let snapshots = Arc::new(SnapshotSlot::default());
        let dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let status = Arc::new(TrainerStatus::default());
        let worker = Worker {
            commands: cmd_rx,
            events: ev_tx,
            snapshots: snapshots.clone(),
            status: status.clone(),
            dropped: dropped.clone(),
            wake,
            publish,
            generation: Default::default(),
        };
        // Training is the work the app's views show: it keeps the normal priority when the UI
        // thread has lowered its own (see `crate::priority`).
        let thread = crate::priority::spawn_foreground(
            std::thread::Builder::new().name("trainer".into()),
            move || worker.run(config, data),
        )
        .expect("spawn trainer thread");
        Self {
            commands: cmd_tx,
            events: ev_rx,
            snapshots,
            status,
            dropped_events: dropped,
            thread: Some(thread),
        }
    }

    /// Sends a command (never blocks the UI: a full queue drops the command and says so).
    pub fn send(&self, cmd: TrainCommand) -> bool {
        self.commands.try_send(cmd).is_ok()
    }

    /// Events received so far, without waiting, at most `max`.
    pub fn drain(&self, max: usize) -> Vec<TrainEvent> {
        self.events.try_iter().take(max).collect()
    }

    /// Waits up to `timeout` for one event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<TrainEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Events dropped because the UI did not drain them in time.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for TrainerHandle {
    fn drop(&mut self) {
        // A full queue still ends the thread: it also stops when the channel disconnects.
        let _ = self.commands.try_send(TrainCommand::Shutdown);
        self.snapshots.close();
        let (tx, _) = bounded(0);
        let _ = std::mem::replace(&mut self.commands, tx);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    commands: Receiver<TrainCommand>,
    events: Sender<TrainEvent>,
    snapshots: Arc<SnapshotSlot>,
    status: Arc<TrainerStatus>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
    wake: Box<dyn Fn() + Send + Sync>,
    publish: PublishSettings,
    /// The generation of the last event sent (for an error from outside the loop).
    generation: std::sync::atomic::AtomicU64,
}

/// How long a terminal event waits for room in a full event queue (the UI drains it every
/// frame; a UI stalled this long has bigger problems, and the count of dropped events says so).
const TERMINAL_SEND_WAIT: Duration = Duration::from_secs(2);

impl Worker {
    /// Sends `e` to the UI. Progress is dropped (and counted) when the queue is full; every
    /// other event waits for room, up to [`TERMINAL_SEND_WAIT`], so that a run's end, error or
    /// divergence is not lost behind a burst of progress.
    fn emit(&self, e: TrainEvent) {
        self.generation
            .store(e.generation(), std::sync::atomic::Ordering::Relaxed);
        // Err(true): the queue was full (counted); Err(false): the UI is gone.
        let sent = if e.is_terminal() {
            let r = self.events.send_timeout(e, TERMINAL_SEND_WAIT);
            r.map_err(|err| matches!(err, SendTimeoutError::Timeout(_)))
        } else {
            let r = self.events.try_send(e);
            r.map_err(|err| matches!(err, TrySendError::Full(_)))
        };
        match sent {
            Ok(()) => (self.wake)(),
            Err(true) => {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(false) => {}
        }
    }

    fn run(self, config: TrainConfig, data: Arc<Points>) {
        let pool = self.publish.train_threads.and_then(|n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .thread_name(|i| format!("trainer-pool-{i}"))
                .build()
                .ok()
        });
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &pool {
            Some(pool) => pool.install(|| self.main_loop(config, data)),
            None => self.main_loop(config, data),
        }));
        if let Err(panic) = result {
            let msg = super::panic_message(panic.as_ref());
            self.emit(TrainEvent::Error {
                generation: self.generation.load(std::sync::atomic::Ordering::Relaxed),
                message: format!("trainer thread panicked: {msg}"),
            });
        }
        self.snapshots.close();
    }

    /// A new run; its first weights are published unless `publish` is false (a run resumed
    /// from a checkpoint publishes the loaded weights instead, so that the views never show a
    /// pass over the fresh initialisation it is about to replace).
    fn setup(
        &self,
        config: TrainConfig,
        data: Arc<Points>,
        generation: u64,
        publish: bool,
    ) -> Option<Trainer> {
        match Trainer::new(config, data) {
            Ok(t) => {
                self.emit(TrainEvent::Ready {
                    device: t.device_description().to_string(),
                    fast_path: t.uses_fast_path(),
                    generation,
                });
                if publish {
                    self.publish_snapshot(&t, generation);
                }
                Some(t)
            }
            Err(e) => {
                self.emit(TrainEvent::Error {
                    generation,
                    message: e.to_string(),
                });
                None
            }
        }
    }

    fn publish_snapshot(&self, t: &Trainer, generation: u64) {
        self.snapshots.publish(Arc::new(Snapshot {
            iteration: t.iteration(),
            net: t.config().net.clone(),
            weights: t.weights(),
            generation,
        }));
        (self.wake)();
    }

    fn main_loop(&self, config: TrainConfig, data: Arc<Points>) {
        let mut generation = 0;
        let mut trainer = self.setup(config, data, generation, true);
        let mut running = false;
        let mut last_progress = Instant::now();
        let mut last_snapshot = Instant::now();
        let mut since_progress = (0u64, 0.0f64);
        loop {
            // What the thread does now, before it may block waiting for a command.
            let done = trainer.as_ref().map_or(0, |t| t.iteration());
            self.status.set(generation, done, running);
            // Commands: block while paused, poll while running.
            let cmd = if running {
                match self.commands.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match self.commands.recv() {
                    Ok(c) => Some(c),
                    Err(_) => return,
                }
            };
            let mut step_once = false;
            match cmd {
                Some(TrainCommand::Shutdown) => return,
                Some(TrainCommand::Start) => match &trainer {
                    Some(t) if !running => {
                        running = true;
                        self.emit(TrainEvent::Started {
                            generation,
                            iteration: t.iteration(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        // No model (its setup failed and said so): the UI, which shows
                        // "training" on its click, hears that nothing runs.
                        self.emit(TrainEvent::Paused {
                            generation,
                            iteration: 0,
                            finished: false,
                        });
                    }
                },
                Some(TrainCommand::Pause) => {
                    running = false;
                    if let Some(t) = &trainer {
                        self.publish_snapshot(t, generation);
                        self.emit(TrainEvent::Paused {
                            generation,
                            iteration: t.iteration(),
                            finished: false,
                        });
                    }
                }
                Some(TrainCommand::StepOnce) => step_once = !running,
                Some(TrainCommand::SetLr(lr)) => {
                    if let Some(t) = trainer.as_mut() {
                        t.set_lr(lr);
                    }
                }
                Some(TrainCommand::Reset(config, data, Generation(g))) => {
                    running = false;
                    generation = g;
                    trainer = self.setup(*config, data, generation, true);
                }
                Some(TrainCommand::ResetFrom(config, data, weights, iteration, Generation(g))) => {
                    running = false;
                    generation = g;
                    trainer = self.setup(*config, data, generation, false);
                    if let Some(t) = trainer.as_mut() {
                        if let Err(e) = t.load_weights(&weights, iteration) {
                            self.emit(TrainEvent::Error {
                                generation,
                                message: format!("could not load the checkpoint's weights: {e}"),
                            });
                        }
                        self.publish_snapshot(t, generation);
                    }
                }
                None => {}
            }
            let Some(t) = trainer.as_mut() else {
                running = false;
                continue;
            };
            if !(running || step_once) {
                continue;
            }
            match t.step() {
                Ok(loss) => {
                    since_progress.0 += 1;
                    since_progress.1 += loss;
                }
                Err(e @ TrainError::Diverged(_)) => {
                    running = false;
                    self.publish_snapshot(t, generation);
                    self.emit(TrainEvent::Diverged {
                        generation,
                        message: e.to_string(),
                    });
                    continue;
                }
                Err(e) => {
                    running = false;
                    self.emit(TrainEvent::Error {
                        generation,
                        message: e.to_string(),
                    });
                    continue;
                }
            }
            let it = t.iteration();
            let finished = it >= t.config().iterations;
            let now = Instant::now();
            if now - last_progress >= self.publish.progress_every || step_once || finished {
                let dt = (now - last_progress).as_secs_f64();
                self.emit(TrainEvent::Progress {
                    generation,
                    iteration: it,
                    loss: since_progress.1 / since_progress.0.max(1) as f64,
                    iters_per_sec: since_progress.0 as f64 / dt.max(1e-9),
                });
                since_progress = (0, 0.0);
                last_progress = now;
            }
            if step_once
                || finished
                || (it % self.publish.snapshot_every == 0
                    && now - last_snapshot >= self.publish.snapshot_min_interval)
            {
                self.publish_snapshot(t, generation);
                last_snapshot = now;
            }
            if finished && running {
                running = false;
                self.emit(TrainEvent::Paused {
                    generation,
                    iteration: it,
                    finished: true,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetSpec;
    use crate::device::DeviceChoice;
    use crate::diffusion::NoiseProcess;
    use crate::model::fast::AdamSettings;
    use crate::model::{Activation, Architecture, MlpConfig, NetSpec};

    fn config(iterations: u64) -> TrainConfig {
        TrainConfig {
            net: NetSpec {
                arch: Architecture::Mlp,
                mlp: MlpConfig::new(2, 16, 2, Activation::Tanh),
                process: NoiseProcess::vp(),
                t_split: 0.5,
                data_std: 1.0,
                objective: Default::default(),
            },
            lr: 1e-3,
            batch: 64,
            iterations,
            seed: 0,
            device: DeviceChoice::Cpu,
            adam: AdamSettings::default(),
            times: None,
        }
    }

    /// The lost-event race: progress on every iteration overfills the event queue while the UI
    /// does not drain it; the run's end still arrives (progress is what gets dropped).
    #[test]
    fn the_end_of_a_run_is_not_dropped_when_the_queue_is_full() {
        let data = Arc::new(DatasetSpec::Chessboard.generate(1000, 0));
        let publish = PublishSettings {
            progress_every: Duration::ZERO,
            ..PublishSettings::default()
        };
        let h = TrainerHandle::spawn(config(1000), data, publish, Box::new(|| {}));
        assert!(h.send(TrainCommand::Start));
        // 1,000 progress events into a queue of 256, none read.
        let deadline = Instant::now() + Duration::from_secs(30);
        while h.dropped_events() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(h.dropped_events() > 0, "the queue never filled");
        let end = until(&h, |e| {
            e.is_terminal() && !matches!(e, TrainEvent::Ready { .. } | TrainEvent::Started { .. })
        });
        assert!(
            matches!(
                end,
                TrainEvent::Paused {
                    finished: true,
                    iteration: 1000,
                    ..
                }
            ),
            "{end:?}"
        );
    }

    /// Start, Pause, Start: the trainer says Started, Paused, Started in that order (so the
    /// UI's last word is "training"), and its status agrees; a final pause stops it at the
    /// iteration it reports.
    #[test]
    fn starts_and_pauses_are_reported_in_the_order_they_happen() {
        let data = Arc::new(DatasetSpec::Chessboard.generate(1000, 0));
        let h = TrainerHandle::spawn(
            config(1_000_000),
            data,
            PublishSettings::default(),
            Box::new(|| {}),
        );
        for cmd in [
            TrainCommand::Start,
            TrainCommand::Pause,
            TrainCommand::Start,
        ] {
            assert!(h.send(cmd));
        }
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match until(&h, |e| {
                matches!(e, TrainEvent::Started { .. } | TrainEvent::Paused { .. })
            }) {
                TrainEvent::Started { .. } => seen.push("started"),
                _ => seen.push("paused"),
            }
        }
        assert_eq!(seen, ["started", "paused", "started"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !h.status.running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(h.status.running());
        assert!(h.send(TrainCommand::Pause));
        let TrainEvent::Paused { iteration, .. } =
            until(&h, |e| matches!(e, TrainEvent::Paused { .. }))
        else {
            unreachable!()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while h.status.running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!h.status.running());
        assert_eq!(h.status.iteration(), iteration);
        assert_eq!(h.status.generation(), 0);
    }

    fn until(h: &TrainerHandle, mut pred: impl FnMut(&TrainEvent) -> bool) -> TrainEvent {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(e) = h.recv_timeout(Duration::from_millis(100))
                && pred(&e)
            {
                return e;
            }
        }
        panic!("event not seen within 30 s");
    }

    #[test]
    fn runs_to_completion_publishes_and_shuts_down() {
        let data = Arc::new(DatasetSpec::Chessboard.generate(1000, 0));
        let h = TrainerHandle::spawn(
            config(300),
            data.clone(),
            PublishSettings::default(),
            Box::new(|| {}),
        );
        until(&h, |e| {
            matches!(
                e,
                TrainEvent::Ready {
                    fast_path: true,
                    ..
                }
            )
        });
        assert!(h.send(TrainCommand::Start));
        let e = until(&h, |e| {
            matches!(e, TrainEvent::Paused { finished: true, .. })
        });
        assert_eq!(
            e,
            TrainEvent::Paused {
                generation: 0,
                iteration: 300,
                finished: true
            }
        );
        let snap = h
            .snapshots
            .take(Duration::from_secs(5))
            .expect("a snapshot");
        assert_eq!(snap.iteration, 300);
        // Step once while paused, then reset into a new generation.
        assert!(h.send(TrainCommand::StepOnce));
        until(&h, |e| {
            matches!(e, TrainEvent::Progress { iteration: 301, .. })
        });
        assert!(h.send(TrainCommand::Reset(
            Box::new(config(10)),
            data,
            Generation(1)
        )));
        until(&h, |e| matches!(e, TrainEvent::Ready { generation: 1, .. }));
        let start = Instant::now();
        drop(h);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "drop must not hang"
        );
    }

    #[test]
    fn divergence_is_reported_not_panicked() {
        let mut pts = DatasetSpec::Chessboard.generate(100, 0);
        pts.data[0] = f32::INFINITY;
        pts.data.iter_mut().for_each(|v| *v *= f32::MAX);
        let h = TrainerHandle::spawn(
            config(100),
            Arc::new(pts),
            PublishSettings::default(),
            Box::new(|| {}),
        );
        assert!(h.send(TrainCommand::Start));
        let e = until(&h, |e| matches!(e, TrainEvent::Diverged { .. }));
        assert!(
            matches!(e, TrainEvent::Diverged { message, .. } if message.contains("kept the last finite weights"))
        );
    }
}
