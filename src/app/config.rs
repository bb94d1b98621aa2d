//! The left panel's configuration: dataset, process, model, training, samplers and analysis,
//! and how it turns into a [`TrainConfig`] and [`AnalysisSettings`].

use super::views::Tab;
use crate::data::{DatasetError, DatasetKind, DatasetSpec};
use crate::device::DeviceChoice;
use crate::diffusion::{Objective, ProcessKind, SamplerConfig, SamplerKind, TimeGrid};
use crate::model::{Architecture, CheckpointMeta, DataSource};
use crate::train::analysis::log_spaced;
use crate::train::recipe::paper_size;
use crate::train::{AnalysisSettings, ModelChoice, Preset, RunRecipe, TrainingPart};

/// One sampler's row in the panel.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerChoice {
    /// The sampler.
    pub kind: SamplerKind,
    /// Whether it is compared.
    pub enabled: bool,
    /// Its step count.
    pub steps: usize,
    /// DDIM's stochasticity η (0: deterministic; 1: ancestral); the other samplers ignore it.
    pub eta: f64,
    /// The SDE's noise dial γ (0: the ODE; 1: the reverse SDE); the other samplers ignore it.
    pub noise_scale: f64,
}

/// Everything the left panel sets.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplorerConfig {
    /// Dataset.
    pub dataset: DatasetKind,
    /// A point file (`.npy` or CSV) trained on instead of `dataset`, when set.
    pub data_file: Option<std::path::PathBuf>,
    /// Dimension of `mog`.
    pub mog_dim: usize,
    /// Training-set size.
    pub n_points: usize,
    /// Seed of the training set.
    pub data_seed: u64,
    /// The model: the run description's part (width and depth always given here).
    pub model: ModelChoice,
    /// Training: the run description's part.
    pub training: TrainingPart,
    /// Seed of the weights and batches.
    pub seed: u64,
    /// Training device.
    pub device: DeviceChoice,
    /// Samplers and their steps.
    pub samplers: Vec<SamplerChoice>,
    /// Every sampler's time grid.
    pub grid: TimeGrid,
    /// An equal budget of network evaluations for every sampler (steps = ⌊NFE / evaluations
    /// per step⌋), instead of each sampler's steps; `None`: off.
    pub budget: Option<usize>,
    /// Particles per sampler in the analysis.
    pub n_samples: usize,
    /// Paths kept for the trajectory view.
    pub n_paths: usize,
    /// Seed of the shared sampling noise.
    pub sample_seed: u64,
    /// Smallest TID radius.
    pub eps_min: f64,
    /// Largest TID radius.
    pub eps_max: f64,
    /// The radius of interest (marked on the TID view).
    pub eps_marked: f64,
    /// The Hill estimator's k as a fraction of the TID subset size.
    pub k_fraction: f64,
}

impl Default for ExplorerConfig {
    /// The paper's 2D preset on chessboard, with live-analysis sizes that refresh several times
    /// a second on a 2-core machine (the SDE uses 250 steps here; the paper uses 1,000).
    fn default() -> Self {
        let sampler = |kind: SamplerKind, enabled: bool, steps: usize| SamplerChoice {
            kind,
            enabled,
            steps,
            eta: 0.0,
            noise_scale: 1.0,
        };
        Self {
            dataset: DatasetKind::Chessboard,
            data_file: None,
            mog_dim: 10,
            n_points: 500_000,
            data_seed: 0,
            model: ModelChoice {
                width: Some(100),
                depth: Some(3),
                ..ModelChoice::default()
            },
            training: TrainingPart::default(),
            seed: 0,
            device: DeviceChoice::Auto,
            grid: TimeGrid::UniformT,
            budget: None,
            samplers: vec![
                sampler(SamplerKind::OdeEuler, true, 100),
                sampler(SamplerKind::Sde, true, 250),
                sampler(SamplerKind::PredictorCorrector, false, 100),
                sampler(SamplerKind::Ddim, false, 100),
                sampler(SamplerKind::DpmSolver2, false, 50),
                sampler(SamplerKind::OdeHeun, false, 50),
                sampler(SamplerKind::AnnealedLangevin, false, 250),
            ],
            n_samples: 4000,
            n_paths: 200,
            sample_seed: 1,
            eps_min: 0.02,
            eps_max: 0.5,
            eps_marked: 0.1,
            k_fraction: 0.1,
        }
    }
}

impl ExplorerConfig {
    /// The dataset spec.
    pub fn dataset_spec(&self) -> Result<DatasetSpec, DatasetError> {
        self.dataset
            .spec((self.dataset == DatasetKind::Mog).then_some(self.mog_dim))
    }

    /// Sets the dataset and the paper's matching preset (2D: 3 × 100, n = 500,000; MoG:
    /// 2 × 1000, n = 50,000, or 3 × 100 for the 1D MoG so that it trains live).
    pub fn select_dataset(&mut self, kind: DatasetKind) {
        self.dataset = kind;
        self.data_file = None;
        let Ok(spec) = self.dataset_spec() else {
            return;
        };
        let preset = Preset::for_dim(spec.dim()).mlp(spec.dim());
        (self.model.width, self.model.depth) = (Some(preset.width), Some(preset.depth));
        self.n_points = paper_size(&spec);
    }

    /// The exact mixture of the training distribution, when the data is a synthetic MoG.
    pub fn exact_mixture(&self) -> Result<Option<crate::data::GaussianMixture>, DatasetError> {
        match self.data_file {
            Some(_) => Ok(None),
            None => Ok(self.dataset_spec()?.mixture()),
        }
    }

    /// Trains on the point file `path` of dimension `dim`, with the paper's preset for it.
    pub fn select_data_file(&mut self, path: std::path::PathBuf, dim: usize) {
        self.data_file = Some(path);
        let preset = Preset::for_dim(dim).mlp(dim);
        (self.model.width, self.model.depth) = (Some(preset.width), Some(preset.depth));
    }

    /// The run the panel describes: the point file, or the synthetic dataset.
    pub fn recipe(&self) -> Result<RunRecipe, DatasetError> {
        Ok(RunRecipe {
            data: match &self.data_file {
                Some(path) => DataSource::user_file(path.clone(), self.n_points, self.data_seed),
                None => DataSource::Synthetic {
                    dataset: self.dataset_spec()?,
                    n: self.n_points,
                    seed: self.data_seed,
                },
            },
            model: self.model.clone(),
            training: self.training.clone(),
            seed: self.seed,
            device: self.device,
        })
    }

    /// Shows a checkpoint's run in the panel: its dataset, model and seed (the iterations
    /// leave room to continue past it).
    pub fn show_checkpoint(&mut self, meta: &CheckpointMeta) {
        match &meta.data {
            DataSource::Synthetic { dataset, n, seed } => {
                let (kind, dim) = dataset.kind();
                self.dataset = kind;
                self.data_file = None;
                self.mog_dim = dim.unwrap_or(self.mog_dim);
                (self.n_points, self.data_seed) = (*n, *seed);
            }
            DataSource::File { path } => self.data_file = Some(path.clone()),
            DataSource::Picture { path, n, seed } => {
                self.data_file = Some(path.clone());
                (self.n_points, self.data_seed) = (*n, *seed);
            }
        }
        let net = &meta.net;
        self.model = ModelChoice {
            arch: net.arch,
            preset: None,
            width: Some(net.mlp.width),
            depth: Some(net.mlp.depth),
            activation: net.mlp.activation,
            t_split: net.t_split,
            process: net.process.kind(),
            objective: net.objective,
        };
        self.seed = meta.seed;
        self.training.iters = self.training.iters.max(meta.iteration + 10_000);
    }

    /// The enabled samplers, ODE-like first.
    pub fn enabled_samplers(&self) -> Vec<SamplerKind> {
        self.samplers
            .iter()
            .filter(|s| s.enabled)
            .map(|s| s.kind)
            .collect()
    }

    /// What the analysis thread computes.
    pub fn analysis_settings(&self) -> AnalysisSettings {
        AnalysisSettings {
            samplers: self
                .samplers
                .iter()
                .filter(|s| s.enabled)
                .map(|s| {
                    let cfg = SamplerConfig::new(s.kind)
                        .with_steps(s.steps)
                        .with_eta(s.eta)
                        .with_noise_scale(s.noise_scale)
                        .with_grid(self.grid);
                    // A budget below one step of a sampler (the panel starts at 2, one
                    // step of any sampler with one corrector step) keeps its own steps.
                    match self.budget {
                        Some(nfe) => cfg.clone().with_nfe(nfe).unwrap_or(cfg),
                        None => cfg,
                    }
                })
                .collect(),
            n_samples: self.n_samples.max(20),
            n_paths: self.n_paths.min(self.n_samples),
            seed: self.sample_seed,
            eps: log_spaced(self.eps_min, self.eps_max.max(self.eps_min * 1.01), 12),
            k: crate::metrics::HillK::Fraction(self.k_fraction),
            ..AnalysisSettings::default()
        }
    }
}

/// A paper experiment in one click: a configuration and the view that shows its figure.
#[derive(Clone, Copy, Debug)]
pub struct Experiment {
    /// What the menu shows.
    pub label: &'static str,
    /// The paper figure it mirrors.
    pub figure: &'static str,
    /// The view to open.
    pub tab: Tab,
    /// What to look for in that view, in one line (shown above it while the experiment's
    /// settings are unchanged, in place of the view's own guide).
    pub look_for: &'static str,
    /// The radius ε the views mark and the sample titles' TID reads, where the experiment's
    /// effect shows at another than the default.
    pub eps_marked: Option<f64>,
    /// The TID plot draws TID's two terms.
    pub tid_terms: bool,
    /// Sets the configuration, starting from [`ExplorerConfig::default`].
    pub apply: fn(&mut ExplorerConfig),
}

/// The mitigation experiments' setting: the 10-D MoG with the paper's 2 × 1000 Tanh MLP and
/// 50,000 points.
fn mitigation_setting(c: &mut ExplorerConfig) {
    c.mog_dim = 10;
    c.select_dataset(DatasetKind::Mog);
}

fn enable(c: &mut ExplorerConfig, kinds: &[SamplerKind]) {
    for s in &mut c.samplers {
        s.enabled = kinds.contains(&s.kind);
    }
}

/// The paper's experiments (issue #6), each as live-sized as this machine allows.
pub const EXPERIMENTS: [Experiment; 14] = [
    Experiment {
        label: "Collapse on chessboard",
        figure: "Fig. 2",
        tab: Tab::Samples,
        look_for: "the ODE's samples pile into sharp clumps and streaks inside the cells; the SDE's, from the same noise, fill them evenly, and TID > 0 measures the difference",
        eps_marked: None,
        tid_terms: false,
        apply: |_| {},
    },
    Experiment {
        label: "TID curves: ODE, SDE, predictor-corrector",
        figure: "Fig. 3b",
        tab: Tab::Tid,
        look_for: "the ODE's curve above 0 and above the SDE's and predictor-corrector's at small radii ε; hollow markers are degenerate radii, not results",
        eps_marked: None,
        tid_terms: false,
        apply: |c| {
            enable(
                c,
                &[
                    SamplerKind::OdeEuler,
                    SamplerKind::Sde,
                    SamplerKind::PredictorCorrector,
                ],
            )
        },
    },
    Experiment {
        label: "Collapse on the spiral",
        figure: "Fig. 11",
        tab: Tab::Samples,
        look_for: "the ODE's samples bunch into beads and short streaks along the arm, where the SDE's spread along it evenly; TID does not confirm it here (REPRODUCTION §1: on the spiral the ODE-SDE difference is within the seed spread at every radius)",
        eps_marked: None,
        tid_terms: false,
        apply: |c| c.select_dataset(DatasetKind::Spiral),
    },
    Experiment {
        label: "1-D MoG: velocity error along trajectories",
        figure: "Fig. 5",
        tab: Tab::Velocity,
        look_for: "errors of v_θ that stay in place across t, the ODE paths riding them into clumps, and errors correlated along the ODE's paths but not along the SDE's",
        eps_marked: None,
        tid_terms: false,
        apply: |c| c.select_dataset(DatasetKind::Mog1d),
    },
    Experiment {
        label: "1-D MoG: density evolution",
        figure: "Fig. 6",
        tab: Tab::Density,
        look_for: "sharp peaks forming early in the ODE's sampling and carried along t as ridges, where the SDE's density stays smooth",
        eps_marked: None,
        tid_terms: false,
        apply: |c| c.select_dataset(DatasetKind::Mog1d),
    },
    Experiment {
        label: "See-saw on 10-D MoG (width 100)",
        figure: "Fig. 7a",
        tab: Tab::SeeSaw,
        look_for: "the low-noise loss and velocity error falling over training while the high-noise error stalls or rises: the see-saw behind the collapse",
        eps_marked: None,
        tid_terms: false,
        apply: |c| {
            c.select_dataset(DatasetKind::Mog);
            c.mog_dim = 10;
            c.model.width = Some(100);
        },
    },
    Experiment {
        label: "Mitigation on 10-D MoG (width 1000): two models split at t = 0.5",
        figure: "Fig. 9a",
        tab: Tab::Tid,
        look_for: "with a separate network for t < 0.5, the ODE's TID falls most of the way to the SDE's (REPRODUCTION §5, width 1,000: 0.022 against the single MLP's 0.125 at 0.5 × the NN distance, but still 0.10 at 1 ×)",
        eps_marked: None,
        tid_terms: false,
        apply: |c| {
            // The paper's setting (§6, App. G.1): 2 × 1000 Tanh on the 10-D MoG, where the
            // baseline's ODE collapses (docs/REPRODUCTION.md §5).
            mitigation_setting(c);
            c.model.arch = Architecture::TwoModel;
            enable(
                c,
                &[
                    SamplerKind::OdeEuler,
                    SamplerKind::Sde,
                    SamplerKind::PredictorCorrector,
                ],
            );
        },
    },
    Experiment {
        label: "Mitigation on 10-D MoG (width 1000): skip connection",
        figure: "Fig. 9a",
        tab: Tab::Tid,
        look_for: "with the skip connection's fixed coefficients, the ODE's TID stays near the SDE's (REPRODUCTION §5, width 1,000: 0.015 against the plain MLP's 0.125 at 0.5 × the NN distance)",
        eps_marked: None,
        tid_terms: false,
        apply: |c| {
            mitigation_setting(c);
            // The fixed coefficients, SPEC's default for this option (the learned ones, `skip`
            // in the architecture menu, train as fast: both are on the fused path).
            c.model.arch = Architecture::SkipFixed;
            enable(
                c,
                &[
                    SamplerKind::OdeEuler,
                    SamplerKind::Sde,
                    SamplerKind::PredictorCorrector,
                ],
            );
        },
    },
    Experiment {
        label: "Sub-VP process; DDIM and DPM-Solver-2",
        figure: "App. I, J",
        tab: Tab::Tid,
        look_for: "on sub-VP every deterministic solver (Euler, DDIM, DPM-Solver-2) sits above the SDE at small ε: the collapse is not a property of VP or of Euler's method",
        eps_marked: None,
        tid_terms: false,
        apply: |c| {
            c.model.process = ProcessKind::SubVp;
            enable(
                c,
                &[
                    SamplerKind::OdeEuler,
                    SamplerKind::Ddim,
                    SamplerKind::DpmSolver2,
                    SamplerKind::Sde,
                ],
            );
        },
    },
    Experiment {
        label: "How much noise is enough? DDIM with η (slider) between ODE and SDE",
        figure: "Beyond the paper",
        tab: Tab::Samples,
        look_for: "DDIM at η = 0.5 (half the ancestral noise) looks like the SDE, not like the clumped ODE; move η to 0 and the clumps come back",
        eps_marked: None,
        tid_terms: false,
        apply: |c| {
            enable(
                c,
                &[SamplerKind::OdeEuler, SamplerKind::Ddim, SamplerKind::Sde],
            );
            for s in &mut c.samplers {
                if s.kind == SamplerKind::Ddim {
                    s.eta = 0.5;
                }
            }
        },
    },
    Experiment {
        label: "Does flow matching collapse? Flow on the linear process (ε: the first entry)",
        figure: "Beyond the paper",
        tab: Tab::Samples,
        look_for: "flow matching's ODE keeps the cells far more even than the ε model's (the first entry): TID(0.09) about +0.04 against +0.09 in one run, the SDE near 0",
        eps_marked: None,
        tid_terms: false,
        apply: |c| {
            // Flow matching / rectified flow: the network outputs the velocity on the linear
            // process; the samplers read it through ε̂, from the same shared noise.
            c.model.objective = Objective::Flow;
            c.model.process = ProcessKind::Linear;
            enable(c, &[SamplerKind::OdeEuler, SamplerKind::Sde]);
        },
    },
    Experiment {
        label: "Equal budgets: every ODE solver and the SDE at 100 network evaluations",
        figure: "Reviewers' question",
        tab: Tab::Tid,
        look_for: "at the same 100 network evaluations, Euler, Heun, DPM-Solver-2 and DDIM all stay above the SDE: a more accurate solver does not remove the collapse",
        eps_marked: None,
        tid_terms: false,
        apply: |c| {
            // REPRODUCTION §9: at the same budget Heun, DPM-Solver-2 and DDIM collapse as the
            // Euler ODE does, and the SDE does not.
            enable(
                c,
                &[
                    SamplerKind::OdeEuler,
                    SamplerKind::OdeHeun,
                    SamplerKind::DpmSolver2,
                    SamplerKind::Ddim,
                    SamplerKind::Sde,
                ],
            );
            c.budget = Some(100);
        },
    },
    Experiment {
        label: "Too much noise? The SDE at γ = 3 (slider; 0 is the ODE, 1 the reverse SDE)",
        figure: "Reviewers' question",
        tab: Tab::Samples,
        look_for: "at γ = 3 the SDE errs the other way: its points crowd inside each cell, away from the edges, and its TID at ε = 0.02 (in the titles) rises above the ODE's (the sweep: 0.15 at γ = 3, about 0 at γ = 0.5-1, 0.12 for the ODE)",
        eps_marked: Some(0.02),
        tid_terms: false,
        apply: |c| {
            // REPRODUCTION §9: TID against γ is U-shaped, lowest at γ = 0.5–1.
            enable(c, &[SamplerKind::OdeEuler, SamplerKind::Sde]);
            for s in &mut c.samplers {
                if s.kind == SamplerKind::Sde {
                    s.noise_scale = 3.0;
                }
            }
        },
    },
    Experiment {
        label: "TID's blind spot: the ODE's streaks on the spiral, with TID's two terms",
        figure: "Reviewers' question",
        tab: Tab::Tid,
        look_for: "both TIDs sit near 0, yet the ODE's Δtop (dashed) stays far above the SDE's: its densest samples are more crowded (streaks along the arms, in Samples), and its X(k+1) rises with them (dotted, below 0), so TID, their difference, does not see it (the sweep: Δtop +0.42 against −0.12 at ε = 0.05)",
        eps_marked: Some(0.05),
        tid_terms: true,
        apply: |c| {
            // REPRODUCTION §1, "Read by its two terms": on the spiral the ODE collapses onto
            // streaks that TID misses and its top term does not.
            c.select_dataset(DatasetKind::Spiral);
            enable(c, &[SamplerKind::OdeEuler, SamplerKind::Sde]);
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MlpConfig;

    #[test]
    fn default_is_the_paper_2d_preset_on_chessboard() {
        let c = ExplorerConfig::default();
        let data = c.dataset_spec().unwrap().generate(1000, 0);
        let t = c.recipe().unwrap().train_config(&data);
        assert_eq!(t.net.mlp, MlpConfig::preset_2d(2));
        assert_eq!((t.lr, t.batch, t.iterations), (5e-3, 2000, 10_000));
        let a = c.analysis_settings();
        let kinds: Vec<SamplerKind> = a.samplers.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, vec![SamplerKind::OdeEuler, SamplerKind::Sde]);
        assert!((a.eps[0] - 0.02).abs() < 1e-12 && (a.eps[11] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn selecting_mog_switches_to_the_mog_preset() {
        let mut c = ExplorerConfig::default();
        c.select_dataset(DatasetKind::Mog);
        assert_eq!(
            (c.model.width, c.model.depth, c.n_points),
            (Some(1000), Some(2), 50_000)
        );
        assert_eq!(c.dataset_spec().unwrap().dim(), 10);
        c.select_dataset(DatasetKind::Mog1d);
        assert_eq!(
            (c.model.width, c.model.depth, c.n_points),
            (Some(100), Some(3), 50_000)
        );
        c.select_dataset(DatasetKind::Spiral);
        assert_eq!((c.model.width, c.model.depth), (Some(100), Some(3)));
    }

    /// The η experiment hands DDIM's η to the analysis: a stochastic DDIM between the ODE and
    /// the SDE.
    #[test]
    fn the_eta_experiment_samples_a_stochastic_ddim() {
        let e = EXPERIMENTS
            .iter()
            .find(|e| e.label.starts_with("How much noise"))
            .unwrap();
        let mut c = ExplorerConfig::default();
        (e.apply)(&mut c);
        let a = c.analysis_settings();
        let kinds: Vec<SamplerKind> = a.samplers.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            vec![SamplerKind::OdeEuler, SamplerKind::Sde, SamplerKind::Ddim]
        );
        let ddim = &a.samplers[2];
        assert_eq!(ddim.eta, 0.5);
        assert!(!ddim.is_deterministic() && ddim.check().is_ok());
        assert_eq!(crate::app::views::run_label(ddim), "DDIM (η = 0.50)");
    }

    /// The flow-matching experiment trains a flow network on the linear process, and the
    /// objective reaches the network the trainer builds.
    #[test]
    fn the_flow_experiment_trains_flow_matching() {
        let e = EXPERIMENTS
            .iter()
            .find(|e| e.label.starts_with("Does flow matching"))
            .unwrap();
        let mut c = ExplorerConfig {
            n_points: 2000,
            ..ExplorerConfig::default()
        };
        (e.apply)(&mut c);
        let (_, trainer) = c.recipe().unwrap().prepare().unwrap();
        let net = &trainer.config().net;
        assert_eq!(net.objective, Objective::Flow);
        assert_eq!(net.process, crate::diffusion::NoiseProcess::Linear);
    }

    /// The reviewers' experiments: five samplers at 100 evaluations each, and the SDE at γ = 3.
    #[test]
    fn the_reviewers_experiments_set_a_budget_and_a_noise_scale() {
        let find = |start: &str| EXPERIMENTS.iter().find(|e| e.label.starts_with(start));
        let mut c = ExplorerConfig::default();
        (find("Equal budgets").unwrap().apply)(&mut c);
        let a = c.analysis_settings();
        assert_eq!(a.samplers.len(), 5);
        for s in &a.samplers {
            assert_eq!(s.steps * s.evaluations_per_step(), 100, "{:?}", s.kind);
        }
        let mut c = ExplorerConfig::default();
        (find("Too much noise").unwrap().apply)(&mut c);
        let a = c.analysis_settings();
        let sde = a
            .samplers
            .iter()
            .find(|s| s.kind == SamplerKind::Sde)
            .unwrap();
        assert_eq!((sde.noise_scale, a.samplers.len()), (3.0, 2));
    }

    /// The equal-budget switch gives every enabled sampler the same NFE, on the chosen grid.
    #[test]
    fn an_equal_budget_sets_every_samplers_steps() {
        let mut c = ExplorerConfig::default();
        for s in &mut c.samplers {
            s.enabled = true;
        }
        c.budget = Some(100);
        c.grid = TimeGrid::LogSnr;
        for s in c.analysis_settings().samplers {
            assert_eq!(s.steps, 100 / s.evaluations_per_step(), "{:?}", s.kind);
            assert_eq!(s.grid, TimeGrid::LogSnr);
        }
        c.budget = None;
        let steps: Vec<usize> = c
            .analysis_settings()
            .samplers
            .iter()
            .map(|s| s.steps)
            .collect();
        let own: Vec<usize> = c.samplers.iter().map(|s| s.steps).collect();
        assert_eq!(steps, own);
    }

    #[test]
    fn every_experiment_builds_a_valid_run() {
        for e in EXPERIMENTS {
            let mut c = ExplorerConfig {
                n_points: 2000,
                ..ExplorerConfig::default()
            };
            (e.apply)(&mut c);
            let recipe = c.recipe().unwrap_or_else(|m| panic!("{}: {m}", e.label));
            recipe
                .prepare()
                .unwrap_or_else(|m| panic!("{}: {m}", e.label));
            assert!(
                c.samplers.iter().any(|s| s.enabled),
                "{}: no sampler",
                e.label
            );
            if e.figure == "Fig. 9a" {
                // The paper's mitigation setting, not whatever dataset was shown before.
                assert_eq!(c.dataset, DatasetKind::Mog, "{}", e.label);
                assert_eq!(
                    (c.mog_dim, c.model.width, c.model.depth),
                    (10, Some(1000), Some(2)),
                    "{}",
                    e.label
                );
            }
        }
    }
}
