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

/// A paper experiment's guide line replaces its view's own while its settings stand: shown on
/// its view, not on another, and gone once a setting changes.
#[test]
fn an_experiment_says_what_to_look_for_while_its_settings_stand() {
    let i = super::config::EXPERIMENTS
        .iter()
        .position(|e| e.label.starts_with("Too much noise"))
        .expect("the experiment");
    let mut h = app_with(AppOptions {
        paused: true,
        experiment: Some(i),
        ..AppOptions::default()
    });
    h.run_steps(3);
    let own = "Look for: at γ = 3 the SDE errs the other way";
    let samples = "Look for: the ODE's samples pile into sharp clumps";
    assert!(
        h.query_by_label_contains(own).is_some(),
        "no experiment guide"
    );
    assert!(h.query_by_label_contains(samples).is_none());
    h.get_by_label("Trajectories").click();
    h.run_steps(3);
    assert!(h.query_by_label_contains(own).is_none(), "on another view");
    h.get_by_label("Samples").click();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains(own).is_some(),
        "not back on its view"
    );
    for s in &mut h.state_mut().explorer.config_mut().samplers {
        s.noise_scale = 1.0;
    }
    h.run_steps(3);
    assert!(h.query_by_label_contains(own).is_none(), "γ changed");
    assert!(h.query_by_label_contains(samples).is_some());
}

/// The blind-spot experiment opens on the TID view of the spiral with TID's two terms drawn,
/// whether it comes from `app --experiment N` or from the menu; another experiment from the
/// menu turns the terms off again.
#[test]
fn the_blind_spot_experiment_draws_tids_two_terms() {
    let find = |start: &str| {
        super::config::EXPERIMENTS
            .iter()
            .position(|e| e.label.starts_with(start))
            .expect("the experiment")
    };
    let i = find("TID's blind spot");
    let mut h = app_with(AppOptions {
        paused: true,
        experiment: Some(i),
        ..AppOptions::default()
    });
    h.run_steps(3);
    let explorer = &h.state().explorer;
    assert_eq!(explorer.tab(), Tab::Tid);
    assert!(explorer.views().tid_terms);
    assert_eq!(explorer.config().dataset, crate::data::DatasetKind::Spiral);
    assert!(
        h.query_by_label_contains("Look for: both TIDs sit near 0")
            .is_some()
    );
    // From the menu: another experiment, then this one again.
    for (label, terms) in [("Too much noise", false), ("TID's blind spot", true)] {
        h.query_all_by_role_and_label(eframe::egui::accesskit::Role::ComboBox, "Paper experiment…")
            .last()
            .expect("the menu")
            .click();
        h.run_steps(2);
        h.get_by_label_contains(label).click();
        h.run_steps(3);
        assert_eq!(h.state().explorer.views().tid_terms, terms, "{label}");
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

/// Every button and picker of both modes' panels, clicked by its accessible name: each answers
/// (frames run, no panic), pickers open and close, and the tab row is still there after all of
/// them. Left to their own tests: the buttons that open the system's file dialog, write into
/// the working directory (Save, Export) or start an image study, and presentation mode.
#[test]
fn every_button_and_picker_answers_by_its_label() {
    use eframe::egui::accesskit::Role;
    use egui_kittest::kittest::NodeT;
    let mut h = app();
    // The side panel's scroll area settles its layout over the first frames.
    h.run_steps(6);
    let skip = |l: &str| {
        (l.contains('…') && l != "Paper experiment…")
            || l.starts_with("Export")
            || l.starts_with("Save")
            || l.starts_with("Present")
            || l.starts_with("Leave")
            || l == "Sample ODE and SDE"
            || Tab::ALL.iter().any(|(_, tab)| *tab == l)
    };
    let mut clicked = Vec::new();
    for tab in ["Samples", "Images"] {
        // The tab's button (the Images view also has a heading of that name).
        h.get_by_role_and_label(Role::Button, tab).click();
        h.run_steps(6);
        // The widgets change as they are clicked ("Restart" becomes "Apply and restart" once a
        // setting changed): each round clicks the first one not clicked yet in this mode.
        let mut done: Vec<String> = Vec::new();
        for _ in 0..200 {
            let next = [Role::Button, Role::ComboBox].into_iter().find_map(|role| {
                h.query_all_by_role(role)
                    .filter_map(|n| n.accesskit_node().label().map(|l| (l, role)))
                    .find(|(l, _)| !skip(l) && !done.contains(l))
            });
            let Some((label, role)) = next else { break };
            h.query_all_by_role_and_label(role, &label)
                .last()
                .expect("just listed")
                .click();
            h.run_steps(2);
            if role == Role::ComboBox {
                h.key_press(eframe::egui::Key::Escape);
                h.run_steps(2);
            }
            done.push(label);
        }
        clicked.extend(done);
    }
    for expected in [
        "Apply and restart",
        "Step",
        "dataset",
        "objective",
        "time grid",
        "Paper experiment…",
        "EMA",
    ] {
        assert!(
            clicked.iter().any(|l| l == expected),
            "{expected} not clicked: {clicked:?}"
        );
    }
    assert!(
        clicked.len() >= 18,
        "only {} clicked: {clicked:?}",
        clicked.len()
    );
    h.run_steps(2);
    assert!(h.query_by_label("Samples").is_some(), "the tab row is gone");
}
