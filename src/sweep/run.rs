//! One run of a sweep: generate the data, train the score model (on the device chosen: the
//! fused CPU path, or burn's wgpu backend for a large MLP where a GPU is present), sample every
//! sampler from shared noise, and measure TID against the training set (and the velocity MAE
//! per noise band where the exact score exists).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{PlannedRun, Result, RunConfig, SweepError, run_dir};
use crate::device::DeviceChoice;
use crate::diffusion::{EpsilonModel, ExactMixtureScore, SamplerConfig, SamplerKind};
use crate::metrics::neighbours::median_nn_distance;
use crate::metrics::{TidEstimate, TidProtocol, TidReference};
use crate::model::{Checkpoint, DataSource, inference_model};
use crate::train::evaluation::{evaluate_sampler, velocity_maes};
use crate::train::{RunRecipe, train_run};

/// One sampler's measurements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerResult {
    /// Sampler name (`ode`, `sde`, …).
    pub name: String,
    /// Steps it took.
    pub steps: usize,
    /// Network evaluations it took (absent in results from before budgets were recorded).
    #[serde(default)]
    pub nfe: Option<usize>,
    /// Precision, recall, density, coverage and the energy distance on TID's subsets (absent
    /// in results from before they were measured).
    #[serde(default)]
    pub reference: Option<crate::metrics::ReferenceMetrics>,
    /// Wall time of sampling.
    pub seconds: f64,
    /// TID against the training set at every ε (mean ± std over the protocol's repeats).
    pub tid: Vec<TidEstimate>,
    /// Mean correlation of the velocity error between grid times t ≥ 0.05 along the first
    /// 2,000 trajectories (exact-score datasets only).
    pub error_correlation: Option<f64>,
}

/// What a run measured; stored as `runs/<id>/result.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Position in the expanded grid.
    pub index: usize,
    /// Run id (directory name).
    pub id: String,
    /// Grid values of this run.
    pub params: BTreeMap<String, Value>,
    /// The full run description (nested; `result.json` files written before the parts hold
    /// it flat, and read the same).
    #[serde(deserialize_with = "crate::train::spec::deserialize_run_spec")]
    pub config: RunConfig,
    /// Iterations trained (fewer than asked when training diverged).
    pub iterations: u64,
    /// Mean loss of the last 100 iterations.
    pub final_loss: Option<f64>,
    /// Wall time of training.
    pub train_seconds: f64,
    /// Velocity MAE in the low-noise band (exact-score datasets only).
    pub mae_low: Option<f64>,
    /// Velocity MAE in the high-noise band (exact-score datasets only).
    pub mae_high: Option<f64>,
    /// The divergence message when training stopped early (the measurements then use the last
    /// finite weights).
    pub diverged: Option<String>,
    /// Per sampler.
    pub samplers: Vec<SamplerResult>,
    /// The training set's median nearest-neighbour distance among `tid_points` points, when
    /// the radii were set from it (`eps_nn`).
    #[serde(default)]
    pub eps_nn_scale: Option<f64>,
    /// The run whose trained model this run reused (same data, network, training and seed:
    /// [`RunConfig::training_key`]); its training time and loss are that run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_by: Option<String>,
    /// Where the model was trained, as the device line says it (e.g. "CPU (burn flex)");
    /// absent in results from before sweeps took `--device`, which all trained on the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_device: Option<String>,
    /// Where the samplers and metrics ran, in the same words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_device: Option<String>,
    /// The CPU the run ran on and the instruction set its kernels used
    /// ([`crate::model::simd::cpu_line`]); absent in results from before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
}

impl RunResult {
    /// How the `i`-th radius (`eps`) is named in columns and figures: `eps<ε>`, or `nn<k>`
    /// when the radii are multiples `k` of the nearest-neighbour scale.
    pub fn radius_label(&self, i: usize, eps: f64) -> String {
        match self.config.evaluation.eps_nn.get(i) {
            Some(k) if self.eps_nn_scale.is_some() => format!("nn{k}"),
            _ => format!("eps{eps}"),
        }
    }

    /// Every number as `(column, value)`: `final_loss`, `mae_low`, `mae_high`,
    /// `tid_<sampler>_eps<ε>` (the mean over repeats), `error_corr_<sampler>`, and
    /// `precision_`, `recall_`, `density_`, `coverage_`, `energy_<sampler>`.
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let mut m = Vec::new();
        if let Some(l) = self.final_loss {
            m.push(("final_loss".into(), l));
        }
        if let Some(v) = self.mae_low {
            m.push(("mae_low".into(), v));
        }
        if let Some(v) = self.mae_high {
            m.push(("mae_high".into(), v));
        }
        if let Some(scale) = self.eps_nn_scale {
            m.push(("eps_nn_scale".into(), scale));
        }
        for (at, t) in self.tid_columns() {
            m.push((format!("tid_{at}"), t.mean));
        }
        for s in &self.samplers {
            if let Some(c) = s.error_correlation {
                m.push((format!("error_corr_{}", s.name), c));
            }
        }
        for s in &self.samplers {
            if let Some(r) = &s.reference {
                for (what, v) in [
                    ("precision", r.precision),
                    ("recall", r.recall),
                    ("density", r.density),
                    ("coverage", r.coverage),
                    ("energy", r.energy_distance),
                ] {
                    m.push((format!("{what}_{}", s.name), v));
                }
            }
        }
        m
    }

    /// TID's two terms ([`crate::metrics::TidSplit`]) as `(column, value)`:
    /// `tid_top_<sampler>_<radius>` and `tid_thr_<sampler>_<radius>`, which add up to the
    /// `tid_` column (`summary.csv` has them; `summary.md` keeps to [`Self::metrics`]).
    pub fn tid_split_metrics(&self) -> Vec<(String, f64)> {
        let mut m = Vec::new();
        for (at, t) in self.tid_columns() {
            if let Some(split) = t.split() {
                m.push((format!("tid_top_{at}"), split.top));
                m.push((format!("tid_thr_{at}"), split.threshold));
            }
        }
        m
    }

    /// Every sampler's TID estimates, each with its column suffix `<sampler>_<radius>`.
    fn tid_columns(&self) -> impl Iterator<Item = (String, &TidEstimate)> {
        self.samplers.iter().flat_map(move |s| {
            s.tid
                .iter()
                .enumerate()
                .map(move |(i, t)| (format!("{}_{}", s.name, self.radius_label(i, t.eps)), t))
        })
    }
}

/// Checks a configuration without running it (names, sizes).
pub fn check(c: &RunConfig) -> Result<()> {
    c.data.dataset.spec(c.data.dim)?;
    if c.sampling.samplers.is_empty() {
        return Err(SweepError::Config("no samplers".into()));
    }
    if c.data.n_data == Some(0)
        || c.training.batch == 0
        || c.sampling.n_samples == 0
        || c.evaluation.tid_points == 0
    {
        return Err(SweepError::Config(
            "n_data, batch, n_samples and tid_points must be positive".into(),
        ));
    }
    if c.evaluation
        .eps
        .iter()
        .any(|e| !(e.is_finite() && *e > 0.0))
    {
        return Err(SweepError::Config("eps values must be positive".into()));
    }
    if c.model.width == Some(0) || c.model.depth == Some(0) {
        return Err(SweepError::Config(
            "width and depth must be positive".into(),
        ));
    }
    if !(c.training.lr.is_finite() && c.training.lr > 0.0) {
        return Err(SweepError::Config("lr must be positive".into()));
    }
    if !(c.sampling.noise_scale.is_finite() && c.sampling.noise_scale >= 0.0) {
        return Err(SweepError::Config(format!(
            "noise_scale must be finite and ≥ 0 (0: the ODE, 1: the reverse SDE; got {})",
            c.sampling.noise_scale
        )));
    }
    if c.sampling.noise_scale != 1.0 && !c.sampling.samplers.contains(&SamplerKind::Sde) {
        return Err(SweepError::Config(format!(
            "noise_scale = {} sets the SDE's noise, but sde is not among the samplers",
            c.sampling.noise_scale
        )));
    }
    if c.sampling.nfe.is_some() && c.sampling.steps.is_some() {
        return Err(SweepError::Config(
            "give steps or nfe, not both (nfe sets every sampler's steps)".into(),
        ));
    }
    let process = c.model.process.process();
    for cfg in sampler_configs(c)? {
        cfg.check_on(&process)
            .map_err(|e| SweepError::Config(format!("{}: {e}", e.setting().replace('-', "_"))))?;
    }
    if c.sampling.eta > 0.0 && !c.sampling.samplers.contains(&SamplerKind::Ddim) {
        return Err(SweepError::Config(format!(
            "eta = {} sets DDIM's stochasticity, but ddim is not among the samplers",
            c.sampling.eta
        )));
    }
    if !(0.0..=1.0).contains(&c.sampling.eta) {
        return Err(SweepError::Config(format!(
            "eta must be in [0, 1] (0: deterministic DDIM, 1: ancestral; got {})",
            c.sampling.eta
        )));
    }
    // The objective on this process and architecture (the data's std, which EDM reads, is
    // known only once the data is drawn; any positive value checks the schedule).
    let mlp = crate::model::MlpConfig::new(1, 1, 1, c.model.activation);
    crate::model::NetSpec {
        arch: c.model.arch,
        mlp,
        process: c.model.process.process(),
        t_split: c.model.t_split,
        data_std: 1.0,
        objective: c.model.objective,
    }
    .check()
    .map_err(SweepError::Config)?;
    Ok(())
}

/// The samplers a run compares, as its sampling part sets them.
fn sampler_configs(c: &RunConfig) -> Result<Vec<SamplerConfig>> {
    c.sampling
        .samplers
        .iter()
        .map(|&kind| {
            let mut cfg = SamplerConfig::new(kind)
                .with_eta(c.sampling.eta)
                .with_noise_scale(c.sampling.noise_scale)
                .with_grid(c.sampling.grid);
            if let Some(steps) = c.sampling.steps {
                cfg = cfg.with_steps(steps);
            }
            if let Some(nfe) = c.sampling.nfe {
                cfg = cfg
                    .with_nfe(nfe)
                    .map_err(|e| SweepError::Config(format!("nfe: {e}")))?;
            }
            Ok(cfg)
        })
        .collect()
}

/// Runs `plan` to completion; writes its checkpoint into its run directory under the results
/// directory `out` (the result is the caller's to store). A finished run under `out`, or else
/// under one of the results directories `reuse` (another sweep's), that trained the same model
/// lends its weights instead of training again ([`RunConfig::training_key`]).
/// `device` is where it trains and samples (`auto` keeps a small MLP on the fused CPU path:
/// [`DeviceChoice::resolve_for_mlp`]). `progress(fraction)` is called as it goes.
pub fn execute(
    plan: &PlannedRun,
    out: &Path,
    reuse: &[PathBuf],
    device: DeviceChoice,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<RunResult> {
    let c = &plan.config;
    let dir = run_dir(out, &plan.id);
    let dataset = c.data.spec()?;
    let recipe = RunRecipe {
        data: DataSource::Synthetic {
            dataset,
            n: c.data.points()?,
            seed: c.seed,
        },
        model: c.model.clone(),
        training: c.training.clone(),
        seed: c.seed,
        device,
    };
    let (data, mut trainer) = recipe.prepare()?;
    let net = trainer.config().net.clone();
    let elsewhere = reuse.iter().map(|d| (d.as_path(), true));
    let trained = match std::iter::once((out, false))
        .chain(elsewhere)
        .find_map(|(d, foreign)| trained_before(c, d, foreign))
    {
        Some(t) => t,
        None => {
            let mut report = |i: u64, _loss: f64| {
                if i.is_multiple_of(50) {
                    progress(0.8 * i as f64 / c.training.iters.max(1) as f64);
                }
            };
            let out = train_run(
                &mut trainer,
                c.training.iters,
                &mut report,
                &AtomicBool::new(false),
            )?;
            let weights = trainer.weights();
            let ckpt = recipe.checkpoint(
                net.clone(),
                weights.clone(),
                out.iterations,
                &out.losses,
                serde_json::json!({
                    "sweep_run": plan.id,
                    "device": trainer.device_description(),
                    "cpu": crate::model::simd::cpu_line(),
                }),
            );
            Trained {
                iterations: out.iterations,
                seconds: out.seconds,
                final_loss: out.losses.recent_mean(),
                diverged: out.diverged.map(|e| e.to_string()),
                checkpoint: ckpt,
                from: None,
                device: Some(trainer.device_description().to_string()),
            }
        }
    };
    std::fs::create_dir_all(&dir)?;
    trained.checkpoint.save(&dir.join("checkpoint"))?;
    let Trained {
        iterations,
        seconds: train_seconds,
        final_loss,
        diverged,
        checkpoint,
        from: trained_by,
        device: train_device,
    } = trained;
    let weights = checkpoint.weights;

    let sample_device = device.resolve_for_mlp(net.num_params());
    let model = inference_model(net.clone(), &weights, &sample_device);
    let model = model.as_ref();
    let device = &sample_device.device;
    let exact = dataset
        .mixture()
        .map(|m| ExactMixtureScore::new(m, net.process));
    let exact_ref = exact.as_ref().map(|e| e as &dyn EpsilonModel);
    let (mae_low, mae_high) = match exact_ref {
        Some(e) => {
            let (low, high) = velocity_maes(model, e, &data, c.evaluation.metric_draws, device);
            (Some(low), Some(high))
        }
        None => (None, None),
    };
    // One set of training subsets for every sampler.
    let protocol = TidProtocol {
        points: c.evaluation.tid_points,
        repeats: c.evaluation.tid_repeats,
        seed: c.seed,
        k: c.evaluation.hill_k(),
    };
    // Radii: given, or multiples of the nearest-neighbour scale of the subsets TID compares.
    let eps_nn_scale = (!c.evaluation.eps_nn.is_empty()).then(|| {
        let pool = data.subset(c.evaluation.tid_points, c.seed ^ 0x4E4E);
        median_nn_distance(&pool, 200)
            .filter(|s| *s > 0.0)
            .unwrap_or(1.0)
    });
    let eps: Vec<f64> = match eps_nn_scale {
        Some(scale) => c.evaluation.eps_nn.iter().map(|k| k * scale).collect(),
        None => c.evaluation.eps.clone(),
    };
    let reference = TidReference::new(&data, &eps, protocol)?;
    let mut samplers = Vec::with_capacity(c.sampling.samplers.len());
    for (k, cfg) in sampler_configs(c)?.into_iter().enumerate() {
        let kind = cfg.kind;
        let e = evaluate_sampler(
            model,
            exact_ref,
            &reference,
            &cfg,
            c.sampling.n_samples,
            c.seed,
            device,
            &mut |_, _| {},
        )?;
        samplers.push(SamplerResult {
            name: kind.name().to_string(),
            steps: e.config.steps,
            nfe: Some(e.config.nfe()),
            reference: Some(e.reference),
            seconds: e.seconds,
            tid: e.tid,
            error_correlation: e.error_correlation,
        });
        progress(0.8 + 0.2 * (k + 1) as f64 / c.sampling.samplers.len() as f64);
    }
    Ok(RunResult {
        index: plan.index,
        id: plan.id.clone(),
        params: plan.params.clone(),
        config: c.clone(),
        iterations,
        final_loss,
        train_seconds,
        mae_low,
        mae_high,
        diverged,
        samplers,
        eps_nn_scale,
        trained_by,
        train_device,
        sample_device: Some(sample_device.description),
        cpu: Some(crate::model::simd::cpu_line()),
    })
}

/// A trained model and how its training went.
struct Trained {
    iterations: u64,
    seconds: f64,
    final_loss: Option<f64>,
    diverged: Option<String>,
    checkpoint: Checkpoint,
    /// The run whose training this is, when it was reused.
    from: Option<String>,
    /// Where it was trained (the lender's record, when reused).
    device: Option<String>,
}

/// The finished runs under the results directory `dir` that can lend their trained model, each
/// with its [`RunConfig::training_key`] and the name a borrower records in `trained_by`: a run
/// in a `foreign` directory (another sweep's) by its run directory's path, one in the sweep's
/// own by the run that trained it (its id, or the run it borrowed from in turn).
pub fn lenders(dir: &Path, foreign: bool) -> Result<Vec<(String, String, RunResult)>> {
    Ok(super::collect_results(dir)?
        .into_iter()
        .map(|r| {
            let name = if foreign {
                run_dir(dir, &r.id).display().to_string()
            } else {
                r.trained_by.clone().unwrap_or_else(|| r.id.clone())
            };
            (r.config.training_key(), name, r)
        })
        .collect())
}

/// The training of a finished run under `dir` whose configuration trains the same model as
/// `c` ([`lenders`]): the same data, network, training and seed give the same weights, so they
/// are loaded instead of trained again. Runs whose checkpoint does not load are passed over.
fn trained_before(c: &RunConfig, dir: &Path, foreign: bool) -> Option<Trained> {
    let key = c.training_key();
    lenders(dir, foreign)
        .ok()?
        .into_iter()
        .find_map(|(k, name, r)| {
            if k != key {
                return None;
            }
            let checkpoint = Checkpoint::load(&run_dir(dir, &r.id).join("checkpoint")).ok()?;
            Some(Trained {
                iterations: r.iterations,
                seconds: r.train_seconds,
                final_loss: r.final_loss,
                diverged: r.diverged,
                checkpoint,
                from: Some(name),
                device: r.train_device,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::SweepSpec;

    /// Format 1 (flat `config`, before the run description had parts): every committed
    /// `result.json` of the mitigations sweep at `--full` loads, and its description is the
    /// one today's preset expands to for that run, so such a directory still resumes and
    /// still lends its models (the same training key).
    #[test]
    fn format_1_results_load_as_the_preset_describes_them() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results/mitigations-full");
        let mut spec = SweepSpec::parse(crate::sweep::PRESETS[6].1).unwrap();
        assert_eq!(crate::sweep::PRESETS[6].0, "mitigations");
        spec.base.extend(spec.full.clone());
        let plan = spec.expand().unwrap();
        let results = crate::sweep::collect_results(&dir).unwrap();
        assert_eq!(results.len(), plan.len());
        for r in &results {
            let text = std::fs::read_to_string(run_dir(&dir, &r.id).join("result.json")).unwrap();
            assert!(text.contains("\"width\": "), "format 1 is flat");
            let planned = plan.iter().find(|p| p.id == r.id).unwrap();
            assert_eq!(r.config, planned.config, "{}", r.id);
            assert_eq!(r.config.training_key(), planned.config.training_key());
        }
    }

    /// A tiny run end to end: the result holds every sampler's TID at every ε, the checkpoint
    /// is written, and the same configuration gives the same numbers.
    #[test]
    fn a_tiny_run_measures_every_sampler_and_is_reproducible() {
        let spec = SweepSpec::parse(include_str!("../../tests/fixtures/sweeps/tiny.toml")).unwrap();
        let plan = &spec.expand().unwrap()[0];
        let dir = tempfile::tempdir().unwrap();
        let a = execute(plan, dir.path(), &[], DeviceChoice::Cpu, &|_| {}).unwrap();
        assert_eq!(a.iterations, 30);
        assert_eq!(a.samplers.len(), 2);
        for s in &a.samplers {
            assert_eq!(s.steps, 20);
            assert_eq!(s.tid.len(), 2);
            // The protocol: equal subsets of tid_points, five repeats by default.
            assert!(s.tid.iter().all(|t| t.mean.is_finite() && t.std >= 0.0));
            assert!(s.tid.iter().all(|t| t.points == 300 && t.repeats == 5));
            // mog1d has the exact score: the error correlation is measured.
            let c = s.error_correlation.expect("exact score known");
            assert!((-1.0..=1.0).contains(&c), "{c}");
        }
        assert!(
            a.metrics().iter().any(|(m, _)| m == "error_corr_ode"),
            "the summary has the correlation"
        );
        assert!(
            a.mae_low.is_some() && a.mae_high.is_some(),
            "mog1d has the exact score"
        );
        assert!(run_dir(dir.path(), &plan.id).join("checkpoint").is_dir());
        // Where it ran is recorded, and survives the result file.
        let cpu = Some("CPU (burn flex)".to_string());
        assert_eq!((&a.train_device, &a.sample_device), (&cpu, &cpu));
        let stored: RunResult = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!((&stored.train_device, &stored.sample_device), (&cpu, &cpu));
        let b = execute(
            plan,
            tempfile::tempdir().unwrap().path(),
            &[],
            DeviceChoice::Cpu,
            &|_| {},
        )
        .unwrap();
        let tids = |r: &RunResult| r.samplers.iter().map(|s| s.tid.clone()).collect::<Vec<_>>();
        assert_eq!(tids(&a), tids(&b));
        assert_eq!(a.final_loss, b.final_loss);
        // The sampling part reaches the samplers: at noise_scale = 0 the SDE is the Euler ODE
        // step for step (the same TID), on the log-SNR grid both differ from the uniform-t run,
        // and nfe = 10 gives both 10 steps.
        let mut quiet = plan.clone();
        quiet.config.sampling.noise_scale = 0.0;
        quiet.config.sampling.grid = crate::diffusion::TimeGrid::LogSnr;
        quiet.config.sampling.steps = None;
        quiet.config.sampling.nfe = Some(10);
        let q = execute(
            &quiet,
            tempfile::tempdir().unwrap().path(),
            &[],
            DeviceChoice::Cpu,
            &|_| {},
        )
        .unwrap();
        assert_eq!(q.samplers[0].tid, q.samplers[1].tid);
        assert_ne!(q.samplers[0].tid, a.samplers[0].tid);
        assert!(
            q.samplers
                .iter()
                .all(|s| s.steps == 10 && s.nfe == Some(10))
        );
    }

    /// Runs that differ only in how they sample (here DDIM's η) train once: the second run
    /// reuses the first one's weights, says so, and measures exactly what it measures when it
    /// trains on its own. Another seed trains anew.
    #[test]
    fn runs_that_train_the_same_model_train_it_once() {
        let spec = SweepSpec::parse(
            r#"
            seeds = [0, 1]
            [base]
            dataset = "mog1d"
            n_data = 2000
            width = 16
            depth = 2
            iters = 30
            batch = 256
            samplers = ["ddim"]
            steps = 20
            n_samples = 300
            tid_points = 300
            eps = [0.05]
            metric_draws = 500
            [grid]
            eta = [0.0, 1.0]
            "#,
        )
        .unwrap();
        let plan = spec.expand().unwrap();
        let by = |eta: f64, seed: u64| {
            plan.iter()
                .find(|p| p.config.sampling.eta == eta && p.config.seed == seed)
                .unwrap()
        };
        let out = tempfile::tempdir().unwrap();
        let first = execute(by(0.0, 0), out.path(), &[], DeviceChoice::Cpu, &|_| {}).unwrap();
        crate::sweep::store_result(out.path(), &first).unwrap();
        assert_eq!(first.trained_by, None);
        let reused = execute(by(1.0, 0), out.path(), &[], DeviceChoice::Cpu, &|_| {}).unwrap();
        assert_eq!(reused.trained_by.as_deref(), Some(first.id.as_str()));
        assert_eq!(
            reused.train_device, first.train_device,
            "the lender's device"
        );
        assert_eq!(reused.final_loss, first.final_loss);
        assert!(run_dir(out.path(), &reused.id).join("checkpoint").is_dir());
        let alone = execute(
            by(1.0, 0),
            tempfile::tempdir().unwrap().path(),
            &[],
            DeviceChoice::Cpu,
            &|_| {},
        )
        .unwrap();
        assert_eq!(alone.trained_by, None);
        assert_eq!(reused.samplers, {
            let mut s = alone.samplers.clone();
            // Wall times differ; everything measured is the same.
            for (a, b) in s.iter_mut().zip(&reused.samplers) {
                a.seconds = b.seconds;
            }
            s
        });
        assert_eq!(
            (reused.mae_low, reused.mae_high),
            (alone.mae_low, alone.mae_high)
        );
        // η = 1 is another sampler: other samples from the same model.
        assert_ne!(reused.samplers[0].tid, first.samplers[0].tid);
        let other_seed = execute(by(0.0, 1), out.path(), &[], DeviceChoice::Cpu, &|_| {}).unwrap();
        assert_eq!(other_seed.trained_by, None);

        // Another sweep's results directory lends its training too (`sweep --reuse-training`),
        // named by its run directory; a directory with no such run lends nothing.
        let elsewhere = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        let dirs = [empty.path().to_path_buf(), out.path().to_path_buf()];
        let lent = execute(
            by(1.0, 0),
            elsewhere.path(),
            &dirs,
            DeviceChoice::Cpu,
            &|_| {},
        )
        .unwrap();
        let source = run_dir(out.path(), &first.id).display().to_string();
        assert_eq!(lent.trained_by.as_deref(), Some(source.as_str()));
        assert_eq!(lent.final_loss, first.final_loss);
        assert_eq!(lent.samplers[0].tid, reused.samplers[0].tid);
        assert!(
            run_dir(elsewhere.path(), &lent.id)
                .join("checkpoint")
                .is_dir()
        );
    }
}
