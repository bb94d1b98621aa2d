//! The real app under egui's test harness (`egui_kittest`): widgets found by their labels
//! through AccessKit, clicked as a user clicks them, frames run with a wgpu render state on
//! whatever adapter the machine has (lavapipe in CI), so the views' shaders are built too.

use std::sync::Arc;
use std::sync::atomic::AtomicI32;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::views::Tab;
use super::{AppOptions, ExplorerApp};

mod monkey;
mod snapshots;

/// The app at the window's default size, paused (training starts only when a test asks).
fn app() -> Harness<'static, ExplorerApp> {
    app_with(AppOptions {
        paused: true,
        ..AppOptions::default()
    })
}

/// The app started with `opts`, at the window's default size.
fn app_with(opts: AppOptions) -> Harness<'static, ExplorerApp> {
    Harness::builder()
        .wgpu()
        .with_size(eframe::egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| {
            ExplorerApp::new(cc, opts, Arc::new(AtomicI32::new(0))).expect("the app starts")
        })
}

/// Every tab opens from its label in the tab row, and only that one is shown.
#[test]
fn every_tab_opens_by_its_label() {
    let mut h = app();
    for (tab, label) in Tab::ALL {
        h.get_by_label(label).click();
        h.run_steps(3);
        let app = h.state();
        assert_eq!(app.images_shown, tab == Tab::Images, "{label}");
        if tab != Tab::Images {
            assert_eq!(app.explorer.tab(), tab, "{label}");
        }
    }
}

/// The presentation button folds the panels and names the way back; pressing that leaves.
#[test]
fn presentation_mode_turns_on_and_off_by_its_button() {
    let mut h = app();
    h.get_by_label("Present (F5)").click();
    h.run_steps(3);
    assert!(h.state().shell.presenting);
    h.get_by_label("Leave (F5)").click();
    h.run_steps(3);
    assert!(!h.state().shell.presenting);
    assert!(h.query_by_label("Present (F5)").is_some());
}

/// The tour shows the views in turn and, after a round of them, trains on the next dataset.
#[test]
fn the_tour_shows_every_view_then_trains_the_next_dataset() {
    let mut tour = super::Tour {
        every: std::time::Duration::ZERO,
        last: std::time::Instant::now(),
        shown: 0,
    };
    let views = super::Tour::VIEWS.len();
    let steps: Vec<_> = (0..2 * views).map(|_| tour.next().expect("due")).collect();
    for view in super::Tour::VIEWS {
        assert!(
            steps[..views].iter().any(|(v, _)| *v == view),
            "{view:?} not shown"
        );
    }
    let restarts: Vec<_> = steps.iter().filter_map(|(_, d)| *d).collect();
    assert_eq!(restarts, super::Tour::DATASETS[1..3]);
    // In the app: the views change and training restarts on the tour's datasets.
    let mut h = app_with(AppOptions {
        paused: true,
        tour: Some(std::time::Duration::ZERO),
        ..AppOptions::default()
    });
    h.run_steps(2 * views);
    let app = h.state();
    assert!(app.explorer.generation() >= 1, "no new run");
    assert!(super::Tour::DATASETS[1..].contains(&app.explorer.config().dataset));
}
