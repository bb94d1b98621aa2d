//! Faults in the app, on the mode's state and its threads' events, without a window
//! (issue #16): a corrupt checkpoint keeps the current run; closing during training and
//! analysis returns at once.
use super::*;
use crate::data::DatasetKind;

fn mode(ctx: &egui::Context, shell: &mut Shell) -> ExplorerMode {
    let opts = AppOptions {
        dataset: Some(DatasetKind::Mog1d),
        samples: Some(500),
        train_threads: Some(1),
        ..AppOptions::default()
    };
    ExplorerMode::new(ctx, &opts, true, shell).unwrap()
}

/// A context, a shell and a mode training on the 1-D MoG.
fn training() -> (egui::Context, Shell, ExplorerMode) {
    let ctx = egui::Context::default();
    let mut shell = Shell::new(&ctx, true);
    let m = mode(&ctx, &mut shell);
    (ctx, shell, m)
}

/// The run goes on: the same generation and panel, still training, iterations still coming.
fn goes_on(m: &mut ExplorerMode, generation: u64, config: &crate::app::config::ExplorerConfig) {
    assert_eq!(m.generation, generation);
    assert_eq!(&m.config, config);
    assert!(m.state.running);
    let at = m.state.iteration;
    until(m, |m| m.state.iteration > at);
}

/// Drains events until `done` or 30 s.
fn until(m: &mut ExplorerMode, done: impl Fn(&ExplorerMode) -> bool) {
    let start = Instant::now();
    while !done(m) {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out");
        std::thread::sleep(Duration::from_millis(10));
        m.drain_events();
    }
}

/// In d > 2 the analysis histograms the coordinate the views plot (clamped to the
/// dimension); in 1D and 2D the first.
#[test]
fn the_density_follows_the_plotted_coordinate() {
    let ctx = egui::Context::default();
    let mut shell = Shell::new(&ctx, true);
    let opts = AppOptions {
        dataset: Some(DatasetKind::Mog),
        samples: Some(500),
        train_threads: Some(1),
        paused: true,
        ..AppOptions::default()
    };
    let mut m = ExplorerMode::new(&ctx, &opts, false, &mut shell).unwrap();
    assert_eq!(m.view_data.data.d, 10);
    m.views.coords[0] = 3;
    assert_eq!(m.analysis_settings().density_coord, 3);
    m.views.coords[0] = 42;
    assert_eq!(m.analysis_settings().density_coord, 9);
    let mut one = mode(&ctx, &mut shell);
    one.views.coords[0] = 3;
    assert_eq!(one.analysis_settings().density_coord, 0);
    assert_eq!(crate::app::views::subscript(12), "₁₂");
}

#[test]
fn a_corrupt_checkpoint_keeps_the_current_run_and_says_why() {
    let (_ctx, mut shell, mut m) = training();
    until(&mut m, |m| m.state.iteration > 0);
    let (generation, config) = (m.generation, m.config.clone());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.json"), b"{ not json").unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"garbage").unwrap();
    m.checkpoint_path = dir.path().display().to_string();
    m.load_checkpoint(&mut shell);
    let notice = shell.recent_notice().unwrap_or_default().to_string();
    assert!(notice.starts_with("load failed"), "{notice}");
    assert!(
        notice.contains("model.json"),
        "the notice names the file: {notice}"
    );
    goes_on(&mut m, generation, &config);
}

/// A point file that cannot be read (garbage `.npy`, ragged CSV, missing, one point) keeps
/// the current run, and the notice names the file and the reason, as the CLI does.
#[test]
fn a_bad_data_file_keeps_the_current_run_and_says_why() {
    let (ctx, mut shell, mut m) = training();
    until(&mut m, |m| m.state.iteration > 0);
    let (generation, config) = (m.generation, m.config.clone());
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("garbage.npy", &b"\x93NUMPY garbage"[..], "garbage.npy"),
        ("ragged.csv", &b"1,2\n3\n"[..], "ragged.csv"),
        ("one.csv", &b"0.5,0.5\n"[..], "at least 2"),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        m.on_file(FilePurpose::OpenData, path, &mut shell, &ctx);
        let notice = shell.recent_notice().unwrap_or_default().to_string();
        assert!(notice.contains(needle), "{name}: {notice}");
        assert!(notice.contains("current run goes on"), "{notice}");
    }
    let e = m
        .open_data_file(&dir.path().join("absent.npy"))
        .unwrap_err();
    assert!(e.contains("absent.npy"), "{e}");
    goes_on(&mut m, generation, &config);
}

/// An opened CSV trains live from scratch; its checkpoint records the file, and loading the
/// checkpoint trains on that file again.
#[test]
fn an_opened_csv_trains_and_its_checkpoint_records_it() {
    let (_ctx, mut shell, mut m) = training();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ring.csv");
    let text: String = (0..400)
        .map(|i| {
            let a = i as f64 * std::f64::consts::TAU / 400.0;
            format!("{:.5},{:.5}\n", a.cos(), a.sin())
        })
        .collect();
    std::fs::write(&csv, format!("x,y\n{text}")).unwrap();
    let generation = m.generation;
    let said = m.open_data_file(&csv).unwrap();
    assert!(said.contains("400 points in 2 dimensions"), "{said}");
    assert_eq!(m.generation, generation + 1);
    assert_eq!(m.applied.data_file.as_deref(), Some(csv.as_path()));
    // The paper's 2D preset for 2D points, and no exact score for a file.
    assert_eq!(
        (m.config.model.width, m.config.model.depth),
        (Some(100), Some(3))
    );
    assert_eq!(m.config.exact_mixture().unwrap(), None);
    until(&mut m, |m| m.state.iteration > 20);
    let ckpt = dir.path().join("run");
    m.checkpoint_path = ckpt.display().to_string();
    m.save_checkpoint(&mut shell);
    let saved = crate::model::Checkpoint::load(&ckpt).unwrap();
    assert_eq!(
        saved.meta.data,
        crate::model::DataSource::File { path: csv.clone() }
    );
    m.close_data_file();
    assert_eq!(m.applied.data_file, None);
    m.load_checkpoint(&mut shell);
    assert_eq!(m.applied.data_file.as_deref(), Some(csv.as_path()));
    assert_eq!(m.view_data.data.n, 400);
}

/// A traced PNG (a black L on white) trains live: the panel's number of points, all of them
/// on the letter, and its checkpoint records the picture with that count and seed.
#[test]
fn a_traced_picture_trains_live() {
    let (_ctx, mut shell, mut m) = training();
    let dir = tempfile::tempdir().unwrap();
    let png_path = dir.path().join("letter.png");
    let (w, h) = (24usize, 24usize);
    let mut pixels = vec![255u8; w * h];
    for row in 2..22 {
        for col in 4..8 {
            pixels[row * w + col] = 0;
        }
    }
    for row in 18..22 {
        for col in 4..20 {
            pixels[row * w + col] = 0;
        }
    }
    let file = std::fs::File::create(&png_path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.write_header()
        .unwrap()
        .write_image_data(&pixels)
        .unwrap();
    m.config.n_points = 3000;
    let said = m.open_data_file(&png_path).unwrap();
    assert!(said.contains("3000 points traced"), "{said}");
    let data = m.view_data.data.clone();
    assert_eq!((data.n, data.d), (3000, 2));
    // Pixel (row, col) covers x ∈ [(col − 12)/6, (col − 11)/6], y ∈ [(11 − row)/6, (12 − row)/6].
    let on_letter = |x: f32, y: f32| {
        let (col, row) = ((x * 6.0 + 12.0).floor(), (12.0 - y * 6.0).floor());
        ((4.0..8.0).contains(&col) && (2.0..22.0).contains(&row))
            || ((4.0..20.0).contains(&col) && (18.0..22.0).contains(&row))
    };
    assert!(data.data.chunks(2).all(|p| on_letter(p[0], p[1])));
    until(&mut m, |m| m.state.iteration > 20);
    let ckpt = dir.path().join("run");
    m.checkpoint_path = ckpt.display().to_string();
    m.save_checkpoint(&mut shell);
    let saved = crate::model::Checkpoint::load(&ckpt).unwrap();
    assert_eq!(
        saved.meta.data,
        crate::model::DataSource::Picture {
            path: png_path,
            n: 3000,
            seed: m.config.data_seed
        }
    );
}

/// A drawing trains live: "Train on drawing" saves it where the view says and restarts on
/// it, seeded; the saved file reads back as the drawn points.
#[test]
fn a_drawing_trains_live() {
    let (_ctx, _shell, mut m) = training();
    assert!(m.train_on_drawing().unwrap_err().contains("at least 2"));
    for (x, y) in [(-1.0, -1.0), (1.0, 1.0), (1.0, -1.0)] {
        for _ in 0..20 {
            m.draw.paint([x, y], 1.0 / 60.0);
        }
        m.draw.end_stroke();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.csv");
    m.draw.save_path = path.display().to_string();
    let generation = m.generation;
    let said = m.train_on_drawing().unwrap();
    assert!(said.contains("1998 points in 2 dimensions"), "{said}");
    assert_eq!(m.generation, generation + 1);
    assert_eq!(m.applied.data_file.as_deref(), Some(path.as_path()));
    assert_eq!(
        crate::data::read_points(&path).unwrap().data,
        m.draw.to_points().data
    );
    until(&mut m, |m| m.state.iteration > 20);
}

/// The objective picker's choice reaches the trainer: applied, training restarts with a
/// flow-matching network and the analysis samples it; an objective the architecture cannot
/// carry is refused with the reason, and the run goes on.
#[test]
fn the_objective_picker_restarts_training_with_that_objective() {
    use crate::diffusion::{Objective, ProcessKind};
    let (_ctx, _shell, mut m) = training();
    let generation = m.generation;
    m.config.model.objective = Objective::Flow;
    m.config.model.process = ProcessKind::Linear;
    m.apply();
    assert_eq!(m.generation, generation + 1);
    assert_eq!(m.applied.model.objective, Objective::Flow);
    until(&mut m, |m| {
        m.state.iteration > 20 && !m.state.samples.is_empty()
    });
    m.config.model.arch = crate::model::Architecture::SkipFixed;
    m.config.model.objective = Objective::V;
    m.apply();
    let said = m.state.message.clone().unwrap_or_default();
    assert!(
        said.contains("objective = v cannot be used with arch = skip-fixed"),
        "{said}"
    );
    assert!(said.contains("the current run goes on"), "{said}");
    assert_eq!(m.generation, generation + 1);
    assert_eq!(m.applied.model.objective, Objective::Flow);
}

#[test]
fn closing_during_training_and_analysis_returns_within_a_second() {
    let (_ctx, _shell, mut m) = training();
    // Training runs and an analysis pass is under way.
    until(&mut m, |m| {
        m.state.iteration > 0 && m.state.analysis_progress.is_some()
    });
    let start = Instant::now();
    drop(m);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "closing took {took:?}");
}
