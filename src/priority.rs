//! Scheduling priority of the app's threads.
//!
//! In the app, training (or an image study) is the work the user waits for; the window, its
//! renderer and the live analysis are best-effort views of it. On two cores with software
//! Vulkan the renderer alone takes most of a core (~100 ms of fragment shading per frame at
//! 1600 × 1000), and with every thread at one priority the scheduler gave training only 55%
//! of the core it has when alone.
//!
//! [`enter_background`] lowers the calling (UI) thread by [`BACKGROUND_NICE`]; everything it
//! spawns afterwards (the renderer's workers, the analysis thread, dialogs) inherits that.
//! Threads started with [`spawn_foreground`] are spawned by a helper thread that kept the
//! original priority, so they inherit that one instead: a thread may always lower its own
//! priority, but raising it back needs privileges that a user does not have.
//!
//! Linux only (its nice values are per thread); elsewhere [`enter_background`] does nothing
//! and says so, and [`spawn_foreground`] is a plain spawn.

use std::io;
use std::sync::OnceLock;
use std::thread::{Builder, JoinHandle};

use crossbeam_channel::{Sender, bounded};

/// How much lower than training the views run: nice +10 gives a competing thread about a
/// tenth of the weight of a normal one (CFS weights 110 against 1,024).
pub const BACKGROUND_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// The helper thread that spawns foreground threads, once [`enter_background`] has run.
static FOREGROUND: OnceLock<Sender<Job>> = OnceLock::new();

/// Starts the foreground spawner at this thread's priority, then lowers this thread's priority
/// by [`BACKGROUND_NICE`]. Returns the new nice value, or `Ok(None)` where per-thread priorities
/// are not supported. Call it once, on the UI thread, before the window opens; a second call
/// lowers the caller again but keeps the first spawner.
pub fn enter_background() -> io::Result<Option<i32>> {
    if !cfg!(target_os = "linux") {
        return Ok(None);
    }
    FOREGROUND.get_or_init(|| {
        // Spawning is quick and callers wait for their thread: a few slots are plenty.
        let (tx, rx) = bounded::<Job>(8);
        // If this fails, `spawn_foreground` reports it at its first use.
        let _ = Builder::new()
            .name("foreground-spawner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            });
        tx
    });
    let now = current_nice()?;
    set_current_nice((now + BACKGROUND_NICE).min(19))?;
    current_nice().map(Some)
}

/// Spawns `f` with `builder` at the priority the UI thread had before [`enter_background`]
/// (a plain spawn when it was never called).
pub fn spawn_foreground<F, T>(builder: Builder, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let Some(spawner) = FOREGROUND.get() else {
        return builder.spawn(f);
    };
    let (back, handle) = bounded(1);
    let job: Job = Box::new(move || {
        let _ = back.send(builder.spawn(f));
    });
    let gone = || io::Error::other("the foreground thread spawner is not running");
    spawner.send(job).map_err(|_| gone())?;
    handle.recv().map_err(|_| gone())?
}

/// The calling thread's nice value (0 where per-thread priorities are not supported).
pub fn current_nice() -> io::Result<i32> {
    imp::current_nice()
}

fn set_current_nice(nice: i32) -> io::Result<()> {
    imp::set_current_nice(nice)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io;

    fn tid() -> libc::id_t {
        // SAFETY: gettid has no preconditions and cannot fail.
        unsafe { libc::gettid() as libc::id_t }
    }

    pub fn current_nice() -> io::Result<i32> {
        // getpriority returns -1 both as a value and as an error; errno tells them apart.
        // SAFETY: the errno location is this thread's; getpriority only reads its arguments.
        unsafe {
            *libc::__errno_location() = 0;
            let nice = libc::getpriority(libc::PRIO_PROCESS, tid());
            if nice == -1 && *libc::__errno_location() != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(nice)
        }
    }

    pub fn set_current_nice(nice: i32) -> io::Result<()> {
        // SAFETY: setpriority only reads its arguments; PRIO_PROCESS with a thread id changes
        // that one thread on Linux.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid(), nice) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;

    pub fn current_nice() -> io::Result<i32> {
        Ok(0)
    }

    pub fn set_current_nice(_: i32) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// On a thread of its own (the test harness's threads must keep their priority): after
    /// `enter_background`, that thread and what it spawns run BACKGROUND_NICE lower, and a
    /// `spawn_foreground` thread runs at the priority the thread had before.
    #[test]
    fn background_threads_are_lowered_and_foreground_ones_are_not() {
        let (before, after, inherited, foreground) = Builder::new()
            .name("lowers-itself".into())
            .spawn(|| {
                let before = current_nice().unwrap();
                let after = enter_background()
                    .unwrap()
                    .expect("Linux has per-thread nice");
                let inherited = Builder::new()
                    .name("inherits".into())
                    .spawn(|| current_nice().unwrap())
                    .unwrap()
                    .join()
                    .unwrap();
                let foreground =
                    spawn_foreground(Builder::new().name("fg".into()), || current_nice().unwrap())
                        .unwrap()
                        .join()
                        .unwrap();
                (before, after, inherited, foreground)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(after, (before + BACKGROUND_NICE).min(19));
        assert_eq!(
            inherited, after,
            "threads spawned later inherit the lower priority"
        );
        assert_eq!(
            foreground, before,
            "foreground threads keep the original priority"
        );
        // The harness thread running this test was not touched.
        assert_eq!(current_nice().unwrap(), before);
    }
}
