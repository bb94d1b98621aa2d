//! One training run (SPEC §2): DSM ε-prediction loss, Adam, on the fused CPU path for plain
//! MLPs or on burn autodiff (any device; the skip architectures).

use std::sync::Arc;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::data::Points;
use crate::device::{DeviceChoice, ResolvedDevice};
use crate::diffusion::loss::{Band, Diverged, NoisedBatch};
use crate::diffusion::model::{Times, to_tensor};
use crate::diffusion::{Objective, TimeSampling};
use crate::model::fast::{AdamSettings, FastMlp, SkipHead};
use crate::model::mlp::{Mlp, MlpWeights};
use crate::model::net::{Architecture, NetSpec, ScoreNet};

/// Settings of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The network to train.
    pub net: NetSpec,
    /// Adam learning rate (paper: 5e-3).
    pub lr: f64,
    /// Batch size (paper: 2,000).
    pub batch: usize,
    /// Iterations (paper: 10,000).
    pub iterations: u64,
    /// Seed of the initial weights and of every batch.
    pub seed: u64,
    /// Where to train.
    pub device: DeviceChoice,
    /// Adam's betas and epsilon.
    pub adam: AdamSettings,
    /// How training draws its times (default: the objective's, [`Objective::default_times`]).
    #[serde(default)]
    pub times: Option<TimeSampling>,
}

impl TrainConfig {
    /// The training-time distribution in use.
    pub fn training_times(&self) -> TimeSampling {
        self.times
            .unwrap_or_else(|| self.net.objective.default_times())
    }
}

/// Why training stopped.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    /// The loss or a gradient became NaN or infinite; the weights are those before that step.
    #[error(transparent)]
    Diverged(#[from] Diverged),
    /// The configuration cannot be trained.
    #[error("invalid training configuration: {0}")]
    Config(String),
}

/// One trainable group: a set of MLP parts trained together on one time band.
struct Group {
    /// How the parts combine into ε (Mlp for a single plain part).
    spec: NetSpec,
    band: Band,
    engine: Engine,
}

/// The fused path or burn's autodiff path.
enum Engine {
    Fast(Box<FastMlp>),
    /// The learned skip connection on the fused path: the main network and the coefficient
    /// networks `c_skip(t)`, `c_out(t)` (in [`NetSpec::part_configs`] order).
    FastSkip(Box<[FastMlp; 3]>),
    Burn {
        parts: PartsModule,
        optim: ModuleOptimizer,
        device: Device,
    },
}

/// Parts as one module, for burn's optimiser.
#[derive(Module, Debug)]
struct PartsModule {
    parts: Vec<Mlp>,
}

/// A loss above this many times the batch's mean squared target (or 1, when that is smaller)
/// is an explosion even while it is finite. For ε-prediction the loss is a mean over
/// coordinates of `(ε̂ − ε)²` with `ε ~ N(0, 1)`: predicting ε̂ = 0 scores 1, and a fresh network
/// scores about that, so 10⁴ means outputs hundreds of times too large (Adam at a learning rate
/// far too high, typically), from which training does not come back. Other objectives' targets
/// have other scales (x_0 the data's), hence the target's mean square as the unit.
pub const EXPLODED_LOSS: f64 = 1e4;

/// A training run in progress.
pub struct Trainer {
    config: TrainConfig,
    data: Arc<Points>,
    groups: Vec<Group>,
    rng: StdRng,
    iteration: u64,
    device: ResolvedDevice,
    lr: f64,
}

impl Trainer {
    /// Sets up a run on `data` (the finite training set). On the CPU every architecture trains
    /// on the fused path; on other devices, on burn's autodiff.
    pub fn new(config: TrainConfig, data: Arc<Points>) -> Result<Self, TrainError> {
        Self::build(config, data, true)
    }

    /// The same run on burn's autodiff path only (for comparisons and benchmarks).
    pub fn new_burn_path(config: TrainConfig, data: Arc<Points>) -> Result<Self, TrainError> {
        Self::build(config, data, false)
    }

    fn build(config: TrainConfig, data: Arc<Points>, allow_fast: bool) -> Result<Self, TrainError> {
        let net = &config.net;
        if data.d != net.mlp.dim {
            return Err(TrainError::Config(format!(
                "data has d = {}, the model d = {}",
                data.d, net.mlp.dim
            )));
        }
        for (_, part) in net.part_configs() {
            if part.width == 0 || part.depth == 0 {
                return Err(TrainError::Config(format!(
                    "the network needs width ≥ 1 and depth ≥ 1 (got {} x {})",
                    part.depth, part.width
                )));
            }
        }
        // Weights, gradients and Adam's two moments, plus the batch's activations per layer.
        // (In u128: a width of 10¹⁰ squared does not fit in usize.)
        let params = net
            .part_configs()
            .iter()
            .fold(0u128, |a, (_, c)| a.saturating_add(c.num_params_wide()));
        let widest = net
            .part_configs()
            .iter()
            .map(|(_, c)| c.width.max(c.dim) as u128)
            .max();
        let layers = net
            .part_configs()
            .iter()
            .map(|(_, c)| c.depth as u128 + 1)
            .sum::<u128>();
        let activations = config.batch as u128 * widest.unwrap_or(1) * layers * 4;
        crate::limits::check_allocation(
            format!(
                "training this network ({params} parameters, batch {})",
                config.batch
            ),
            params * 4 + activations,
            4,
            "use a smaller --width, --depth or --batch",
        )
        .map_err(|e| TrainError::Config(e.to_string()))?;
        if config.batch == 0 || data.n == 0 {
            return Err(TrainError::Config(
                "batch size and dataset must be non-empty".into(),
            ));
        }
        net.check().map_err(TrainError::Config)?;
        let p = net.process;
        if !(net.t_split > p.t_min() && net.t_split < p.t_max()) {
            return Err(TrainError::Config(format!(
                "t_split = {} outside ({}, {})",
                net.t_split,
                p.t_min(),
                p.t_max()
            )));
        }
        let device = config.device.resolve();
        let on_cpu = device.is_cpu && allow_fast;
        let weights = net.init_weights(config.seed);
        let full = Band::full(&p);
        let low = Band {
            lo: p.t_min(),
            hi: net.t_split,
        };
        let high = Band {
            lo: net.t_split,
            hi: p.t_max(),
        };
        let plain = NetSpec {
            arch: Architecture::Mlp,
            ..net.clone()
        };
        let make = |spec: NetSpec, band: Band, parts: Vec<MlpWeights>| -> Group {
            // The fused path covers every architecture: one network per group, or the main
            // network and its two coefficient networks for the learned skip connection.
            let engine = if on_cpu && spec.arch == Architecture::Skip {
                Engine::FastSkip(Box::new([
                    FastMlp::new(&parts[0]),
                    FastMlp::new(&parts[1]),
                    FastMlp::new(&parts[2]),
                ]))
            } else if on_cpu {
                Engine::Fast(Box::new(FastMlp::new(&parts[0])))
            } else {
                let dev = device.device.clone().autodiff();
                let parts = PartsModule {
                    parts: parts.iter().map(|w| Mlp::from_weights(w, &dev)).collect(),
                };
                let optim = burn_adam(config.adam);
                Engine::Burn {
                    parts,
                    optim,
                    device: dev,
                }
            };
            Group { spec, band, engine }
        };
        let groups = match net.arch {
            Architecture::Mlp => vec![make(plain, full, weights)],
            Architecture::HighNoiseOnly => vec![make(plain, high, weights)],
            Architecture::TwoModel => vec![
                make(plain.clone(), low, vec![weights[0].clone()]),
                make(plain, high, vec![weights[1].clone()]),
            ],
            Architecture::Skip | Architecture::SkipFixed => vec![make(net.clone(), full, weights)],
        };
        let rng = StdRng::seed_from_u64(config.seed ^ 0xDA7A_5EED);
        let lr = config.lr;
        Ok(Self {
            config,
            data,
            groups,
            rng,
            iteration: 0,
            device,
            lr,
        })
    }

    /// The device in use, in words.
    pub fn device_description(&self) -> &str {
        &self.device.description
    }

    /// Whether the fused CPU path is in use (for every group).
    pub fn uses_fast_path(&self) -> bool {
        self.groups
            .iter()
            .all(|g| matches!(g.engine, Engine::Fast(_) | Engine::FastSkip(_)))
    }

    /// Iterations done.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Changes the learning rate from the next step on.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// One iteration on every group; returns the mean loss over groups. On a non-finite loss or
    /// gradient, or a loss above [`EXPLODED_LOSS`] (an explosion that is still finite), nothing
    /// is updated and [`TrainError::Diverged`] is returned.
    pub fn step(&mut self) -> Result<f64, TrainError> {
        let p = self.config.net.process;
        let times = self.config.training_times();
        // Draw every group's batch first: all randomness in a fixed order.
        let batches: Vec<NoisedBatch> = self
            .groups
            .iter()
            .map(|g| {
                let n = self.config.batch;
                NoisedBatch::draw_with_times(&self.data, &p, g.band, times, n, &mut self.rng)
            })
            .collect();
        self.step_on(&batches)
    }

    /// One iteration on given batches, one per group in the order [`Trainer::step`] draws
    /// them, as it does after drawing them.
    fn step_on(&mut self, batches: &[NoisedBatch]) -> Result<f64, TrainError> {
        let mut total = 0.0;
        let n_groups = self.groups.len();
        let next = self.iteration + 1;
        let diverged = |loss: f64| {
            TrainError::Diverged(Diverged {
                iteration: next,
                loss,
                last_good: next - 1,
            })
        };
        // Compute every group's loss and gradient before any update, so that divergence in one
        // group leaves all of them at the last good weights.
        let mut pending = Vec::with_capacity(n_groups);
        for (g, batch) in self.groups.iter_mut().zip(batches) {
            let target = training_target(&g.spec, batch);
            let exploded = EXPLODED_LOSS * mean_square(&target).max(1.0);
            let diverged_at = |loss: f64, grads_finite: bool| {
                !(loss.is_finite() && loss <= exploded && grads_finite)
            };
            match &mut g.engine {
                Engine::Fast(fast) => {
                    let input = network_input(&g.spec, batch);
                    let loss = if g.spec.arch == Architecture::SkipFixed {
                        // ε̂ = c_skip(t) x + c_out(t) F(x, t), the coefficients in closed form.
                        let (a, c): (Vec<f32>, Vec<f32>) = batch
                            .t
                            .iter()
                            .map(|&t| {
                                let (a, c) = g.spec.fixed_skip(t);
                                (a as f32, c as f32)
                            })
                            .unzip();
                        let head = SkipHead {
                            a: &a,
                            c: &c,
                            x: &batch.xt,
                        };
                        fast.loss_and_grad_skip(&input, &target, head, batch.n) as f64
                    } else {
                        fast.loss_and_grad(&input, &target, batch.n) as f64
                    };
                    if diverged_at(loss, fast.grads().iter().all(|v| v.is_finite())) {
                        return Err(diverged(loss));
                    }
                    total += loss;
                    pending.push(None);
                }
                Engine::FastSkip(nets) => {
                    // ε̂ = c_skip(t) x + c_out(t) F(x, t): the coefficient networks' outputs
                    // are the head, and the head's gradient flows back into them.
                    let [main, c_skip, c_out] = &mut **nets;
                    // (The learned skip takes plain-input objectives only: NetSpec::check.)
                    let input = network_input(&g.spec, batch);
                    let ts: Vec<f32> = batch.t.iter().map(|&t| t as f32).collect();
                    let a = c_skip.forward(&ts, batch.n);
                    let c = c_out.forward(&ts, batch.n);
                    let head = SkipHead {
                        a: &a,
                        c: &c,
                        x: &batch.xt,
                    };
                    let loss = main.loss_and_grad_skip(&input, &target, head, batch.n) as f64;
                    let (ga, gc) = main.head_grads();
                    c_skip.backward_from(&ga, batch.n);
                    c_out.backward_from(&gc, batch.n);
                    let grads_finite = nets.iter().all(|n| n.grads().iter().all(|v| v.is_finite()));
                    if diverged_at(loss, grads_finite) {
                        return Err(diverged(loss));
                    }
                    total += loss;
                    pending.push(None);
                }
                Engine::Burn { parts, device, .. } => {
                    let x = to_tensor(&batch.xt, batch.n, batch.d, device);
                    let target = to_tensor(&target, batch.n, batch.d, device);
                    let pred = ScoreNet::output_with(
                        &g.spec,
                        &parts.parts,
                        x,
                        &Times::PerRow(batch.t.clone()),
                    );
                    let loss_t = pred.sub(target).square().mean();
                    let loss = loss_t.clone().into_scalar::<f32>() as f64;
                    if diverged_at(loss, true) {
                        return Err(diverged(loss));
                    }
                    total += loss;
                    let grads = GradientsParams::from_grads(loss_t.backward(), &*parts);
                    pending.push(Some(grads));
                }
            }
        }
        let lr = self.lr;
        let adam = self.config.adam;
        for (g, grads) in self.groups.iter_mut().zip(pending) {
            match (&mut g.engine, grads) {
                (Engine::Fast(fast), _) => fast.adam_step(lr as f32, adam),
                (Engine::FastSkip(nets), _) => {
                    nets.iter_mut().for_each(|n| n.adam_step(lr as f32, adam))
                }
                (Engine::Burn { parts, optim, .. }, Some(grads)) => {
                    let module = std::mem::replace(parts, PartsModule { parts: Vec::new() });
                    *parts = optim.step(lr, module, grads);
                }
                (Engine::Burn { .. }, None) => unreachable!("burn groups always have gradients"),
            }
        }
        self.iteration = next;
        Ok(total / n_groups as f64)
    }

    /// Replaces the weights of every part (in [`NetSpec::part_configs`] order), e.g. from a
    /// checkpoint, and continues counting from `iteration`. Adam's moments restart from zero.
    pub fn load_weights(
        &mut self,
        weights: &[MlpWeights],
        iteration: u64,
    ) -> Result<(), TrainError> {
        let configs = self.config.net.part_configs();
        if weights.len() != configs.len()
            || weights
                .iter()
                .zip(&configs)
                .any(|(w, (_, c))| &w.config != c)
        {
            return Err(TrainError::Config(
                "the weights do not match this architecture".into(),
            ));
        }
        if weights.iter().any(|w| !w.all_finite()) {
            return Err(TrainError::Config("the weights are not finite".into()));
        }
        let mut next = 0;
        for g in &mut self.groups {
            match &mut g.engine {
                Engine::Fast(fast) => {
                    **fast = FastMlp::new(&weights[next]);
                    next += 1;
                }
                Engine::FastSkip(nets) => {
                    for n in nets.iter_mut() {
                        *n = FastMlp::new(&weights[next]);
                        next += 1;
                    }
                }
                Engine::Burn {
                    parts,
                    optim,
                    device,
                } => {
                    let k = parts.parts.len();
                    parts.parts = weights[next..next + k]
                        .iter()
                        .map(|w| Mlp::from_weights(w, device))
                        .collect();
                    *optim = burn_adam(self.config.adam);
                    next += k;
                }
            }
        }
        self.iteration = iteration;
        Ok(())
    }

    /// Current weights of every part, in [`NetSpec::part_configs`] order.
    pub fn weights(&self) -> Vec<MlpWeights> {
        let configs = self.config.net.part_configs();
        let mut out = Vec::with_capacity(configs.len());
        for g in &self.groups {
            match &g.engine {
                Engine::Fast(fast) => out.push(fast.weights()),
                Engine::FastSkip(nets) => out.extend(nets.iter().map(FastMlp::weights)),
                Engine::Burn { parts, .. } => {
                    for (m, (_, c)) in parts.parts.iter().zip(&configs[out.len()..]) {
                        out.push(m.to_weights(c));
                    }
                }
            }
        }
        out
    }

    /// The current model, ready for sampling on `device`.
    pub fn score_net(&self, device: &Device) -> ScoreNet {
        ScoreNet::new(self.config.net.clone(), &self.weights(), device)
    }

    /// The resolved device the run trains on.
    pub fn device(&self) -> &ResolvedDevice {
        &self.device
    }
}

/// burn's Adam with the run's betas and epsilon (fresh moments).
fn burn_adam(s: AdamSettings) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(s.beta1)
        .with_beta_2(s.beta2)
        .with_epsilon(s.eps)
        .init()
}

/// The fused path's input rows: `[x_t, t]`, preconditioned by the objective (EDM).
fn network_input(spec: &NetSpec, batch: &NoisedBatch) -> Vec<f32> {
    spec.objective
        .input_rows(&spec.process, spec.data_std, &batch.xt, &batch.t)
}

/// What the network is trained to output on `batch`: `ε` for ε-prediction, else the
/// objective's target.
fn training_target<'a>(spec: &NetSpec, batch: &'a NoisedBatch) -> std::borrow::Cow<'a, [f32]> {
    match spec.objective {
        Objective::Epsilon => std::borrow::Cow::Borrowed(&batch.eps),
        o => std::borrow::Cow::Owned(o.targets(
            &spec.process,
            spec.data_std,
            &batch.x0,
            &batch.eps,
            &batch.t,
        )),
    }
}

/// The mean of `v²`.
fn mean_square(v: &[f32]) -> f64 {
    v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / v.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetSpec;
    use crate::diffusion::{NoiseProcess, SamplerConfig, SamplerKind, sample};
    use crate::model::mlp::{Activation, MlpConfig};

    fn config(arch: Architecture, width: usize, lr: f64) -> TrainConfig {
        TrainConfig {
            net: NetSpec {
                arch,
                mlp: MlpConfig::new(1, width, 2, Activation::Tanh),
                process: NoiseProcess::vp(),
                t_split: 0.5,
                data_std: 1.0,
                objective: Default::default(),
            },
            lr,
            batch: 256,
            iterations: 400,
            seed: 3,
            device: DeviceChoice::Cpu,
            adam: AdamSettings::default(),
            times: None,
        }
    }

    /// The two-model split's high half is the high-noise-only network: from the same initial
    /// weights and on the same batches, both train to bit-identical weights, on the fused path
    /// and on burn's. (At width 1,000 and lr 5e-3 the split's high half misfits more than a
    /// high-noise-only network in four seeds each, REPRODUCTION §5; this rules out the
    /// trainer treating the two differently.)
    #[test]
    fn the_split_high_half_trains_as_the_high_noise_only_network() {
        let data = Arc::new(DatasetSpec::Mog { dim: 3, std: 0.1 }.generate(2000, 0));
        let mut cfg = config(Architecture::TwoModel, 24, 5e-3);
        cfg.net.mlp = MlpConfig::new(3, 24, 2, Activation::Tanh);
        cfg.batch = 64;
        let high_only = TrainConfig {
            net: NetSpec {
                arch: Architecture::HighNoiseOnly,
                ..cfg.net.clone()
            },
            ..cfg.clone()
        };
        for burn_path in [false, true] {
            let make = |c: TrainConfig| {
                if burn_path {
                    Trainer::new_burn_path(c, data.clone()).unwrap()
                } else {
                    Trainer::new(c, data.clone()).unwrap()
                }
            };
            let mut split = make(cfg.clone());
            let mut alone = make(high_only.clone());
            assert_eq!(alone.uses_fast_path(), !burn_path);
            let high_init = split.weights()[1].clone();
            alone
                .load_weights(std::slice::from_ref(&high_init), 0)
                .unwrap();
            let p = cfg.net.process;
            let (low, high) = (split.groups[0].band, split.groups[1].band);
            assert_eq!(high, alone.groups[0].band);
            let mut rng = StdRng::seed_from_u64(11);
            for _ in 0..25 {
                let lo = NoisedBatch::draw(&data, &p, low, cfg.batch, &mut rng);
                let hi = NoisedBatch::draw(&data, &p, high, cfg.batch, &mut rng);
                split.step_on(&[lo, hi.clone()]).unwrap();
                alone.step_on(&[hi]).unwrap();
            }
            let (a, b) = (&split.weights()[1], &alone.weights()[0]);
            assert_ne!(a.layers[0].weight, high_init.layers[0].weight, "it trained");
            for (la, lb) in a.layers.iter().zip(&b.layers) {
                assert_eq!(la.weight, lb.weight, "burn path: {burn_path}");
                assert_eq!(la.bias, lb.bias, "burn path: {burn_path}");
            }
        }
    }

    /// Every objective trains the same on the fused path as on burn's autodiff: from the same
    /// weights and batches, the same losses and, after three Adam steps, the same weights (to
    /// f32 rounding of two summation orders); and its ε̂ is the same function on both
    /// inference paths.
    #[test]
    fn every_objective_trains_alike_on_both_paths() {
        use crate::diffusion::EpsilonModel;
        use crate::diffusion::model::to_host;
        use crate::model::FastScoreNet;
        let data = Arc::new(DatasetSpec::Mog { dim: 2, std: 0.1 }.generate(2000, 0));
        for &objective in Objective::all() {
            for process in [NoiseProcess::vp(), NoiseProcess::Linear] {
                let mut cfg = config(Architecture::TwoModel, 16, 1e-2);
                cfg.net.mlp = MlpConfig::new(2, 16, 2, Activation::Tanh);
                cfg.net.objective = objective;
                cfg.net.process = process;
                cfg.batch = 128;
                let mut fast = Trainer::new(cfg.clone(), data.clone()).unwrap();
                let mut slow = Trainer::new_burn_path(cfg.clone(), data.clone()).unwrap();
                assert!(fast.uses_fast_path() && !slow.uses_fast_path());
                for _ in 0..3 {
                    let (a, b) = (fast.step().unwrap(), slow.step().unwrap());
                    assert!(
                        (a - b).abs() < 1e-4 * (1.0 + a.abs()),
                        "{objective}: {a} vs {b}"
                    );
                }
                for (wa, wb) in fast.weights().iter().zip(&slow.weights()) {
                    for (la, lb) in wa.layers.iter().zip(&wb.layers) {
                        for (x, y) in la.weight.iter().zip(&lb.weight) {
                            assert!((x - y).abs() < 1e-4, "{objective}: {x} vs {y}");
                        }
                    }
                }
                let device = Device::flex();
                let burn_net = slow.score_net(&device);
                let fused = FastScoreNet::new(cfg.net.clone(), &slow.weights());
                let n = 64;
                let x: Vec<f32> = (0..n * 2).map(|i| (i as f32 * 0.37).sin() * 1.5).collect();
                let ts: Vec<f64> = (0..n).map(|i| 0.01 + 0.98 * i as f64 / n as f64).collect();
                let t = Times::PerRow(ts);
                let want = to_host(burn_net.epsilon(to_tensor(&x, n, 2, &device), &t));
                let got = fused.epsilon_host(&x, n, &t);
                for (a, b) in want.iter().zip(&got) {
                    assert!(
                        (a - b).abs() < 1e-3 * (1.0 + a.abs()),
                        "{objective}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// Flow matching (`flow` on the linear process) reaches the loss floor that flow matching
    /// has on the 1-D MoG: `E (u − u*)²` with `u = ε − x_0` and `u*(x, t) = E[u | x_t = x]`,
    /// computed here from the mixture's posterior mean of `x_0` (not from the score the
    /// engine uses). On fresh draws the model's loss exceeds the floor by `E (o_θ − u*)²`.
    #[test]
    fn flow_matching_reaches_its_loss_floor_on_mog1d() {
        use crate::data::GaussianMixture;
        use crate::model::FastScoreNet;
        let spec = DatasetSpec::Mog { dim: 1, std: 0.1 };
        let mix: GaussianMixture = spec.mixture().unwrap();
        let data = Arc::new(spec.generate(50_000, 0));
        let mut cfg = config(Architecture::Mlp, 64, 5e-3);
        cfg.net.objective = Objective::Flow;
        cfg.net.process = NoiseProcess::Linear;
        cfg.net.mlp = MlpConfig::new(1, 64, 3, Activation::Tanh);
        cfg.batch = 1000;
        let mut tr = Trainer::new(cfg.clone(), data.clone()).unwrap();
        for _ in 0..3000 {
            tr.step().unwrap();
        }
        let p = NoiseProcess::Linear;
        // E[u | x_t = x] from the components' posterior means of x_0 (SPEC §4's mixture).
        let conditional_velocity = |x: f64, t: f64| {
            let (a, s) = (p.alpha(t), p.sigma(t));
            let mut logs = Vec::new();
            let mut means = Vec::new();
            for k in 0..mix.weights.len() {
                let (mu, sk) = (mix.means[k][0], mix.stds[k]);
                let var = a * a * sk * sk + s * s;
                logs.push(mix.weights[k].ln() - 0.5 * (x - a * mu).powi(2) / var - 0.5 * var.ln());
                means.push(mu + a * sk * sk / var * (x - a * mu));
            }
            let top = logs.iter().cloned().fold(f64::MIN, f64::max);
            let w: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
            let x0 = w.iter().zip(&means).map(|(w, m)| w * m).sum::<f64>() / w.iter().sum::<f64>();
            let eps = (x - a * x0) / s;
            eps - x0
        };
        let mut rng = StdRng::seed_from_u64(99);
        let batch = NoisedBatch::draw(&data, &p, Band::full(&p), 200_000, &mut rng);
        let net = FastScoreNet::new(cfg.net.clone(), &tr.weights());
        let out = net.output_host(&batch.xt, batch.n, &Times::PerRow(batch.t.clone()));
        let (mut floor, mut loss, mut excess) = (0.0, 0.0, 0.0);
        for (i, &o) in out.iter().enumerate() {
            let u = (batch.eps[i] - batch.x0[i]) as f64;
            let star = conditional_velocity(batch.xt[i] as f64, batch.t[i]);
            let o = o as f64;
            floor += (u - star).powi(2);
            loss += (o - u).powi(2);
            excess += (o - star).powi(2);
        }
        let n = batch.n as f64;
        let (floor, loss, excess) = (floor / n, loss / n, excess / n);
        eprintln!("flow matching on mog1d: floor {floor:.4}, loss {loss:.4}, excess {excess:.4}");
        // The decomposition loss = floor + excess holds up to the cross term's sampling error.
        assert!(
            (loss - floor - excess).abs() < 0.02 * floor,
            "{loss} vs {floor} + {excess}"
        );
        assert!(
            excess < 0.05 * floor,
            "loss {loss} above the floor {floor} by {excess}"
        );
    }

    /// A tiny MLP on 1D MoG: the loss drops, and ODE samples land near the modes ±1.
    #[test]
    fn tiny_model_learns_mog1d() {
        let data = Arc::new(DatasetSpec::Mog { dim: 1, std: 0.1 }.generate(5000, 0));
        let mut tr = Trainer::new(config(Architecture::Mlp, 32, 5e-3), data).unwrap();
        assert!(tr.uses_fast_path());
        let mut losses = Vec::new();
        for _ in 0..600 {
            losses.push(tr.step().unwrap());
        }
        let first: f64 = losses[..50].iter().sum::<f64>() / 50.0;
        let last: f64 = losses[550..].iter().sum::<f64>() / 50.0;
        assert!(last < 0.7 * first, "loss {first} -> {last}");
        let net = tr.score_net(&Device::flex());
        let out = sample(
            &net,
            &SamplerConfig::new(SamplerKind::OdeEuler),
            2000,
            1,
            &Device::flex(),
            &mut |_, _| {},
        )
        .unwrap();
        let near = out
            .samples
            .data
            .iter()
            .filter(|x| (x.abs() - 1.0).abs() < 0.3)
            .count();
        assert!(
            near as f64 > 0.8 * 2000.0,
            "{near} of 2000 samples within 0.3 of ±1"
        );
    }

    /// The skip connections, fixed and learned, on the fused path compute what burn's autodiff
    /// path computes from the same weights and batches: the same losses and, after three Adam
    /// steps, the same weights of every part, the learned coefficient networks included (to f32
    /// rounding of two different summation orders).
    #[test]
    fn fused_skip_matches_burns_autodiff() {
        let data = Arc::new(DatasetSpec::Mog { dim: 2, std: 0.1 }.generate(2000, 0));
        for arch in [Architecture::SkipFixed, Architecture::Skip] {
            let mut cfg = config(arch, 16, 1e-2);
            cfg.net.mlp = MlpConfig::new(2, 16, 2, Activation::Tanh);
            let init = cfg.net.init_weights(cfg.seed);
            let mut fused = Trainer::new(cfg.clone(), data.clone()).unwrap();
            let mut burn = Trainer::new_burn_path(cfg, data.clone()).unwrap();
            assert!(fused.uses_fast_path() && !burn.uses_fast_path());
            for step in 0..3 {
                let (a, b) = (fused.step().unwrap(), burn.step().unwrap());
                assert!(
                    (a - b).abs() < 1e-4 * b.abs(),
                    "{arch:?} step {step}: loss {a} vs {b}"
                );
            }
            let (wf, wb) = (fused.weights(), burn.weights());
            assert_eq!(wf.len(), wb.len());
            for (part, (wf, wb)) in wf.iter().zip(&wb).enumerate() {
                let init = &init[part];
                let mut moved = 0.0f32;
                for ((layer_f, layer_b), layer_0) in
                    wf.layers.iter().zip(&wb.layers).zip(&init.layers)
                {
                    for ((x, y), z) in layer_f
                        .weight
                        .iter()
                        .zip(&layer_b.weight)
                        .zip(&layer_0.weight)
                    {
                        assert!((x - y).abs() < 1e-4, "{arch:?} part {part}: {x} vs {y}");
                        moved = moved.max((y - z).abs());
                    }
                }
                // Every part trained (three Adam steps at lr 1e-2 move weights by ~3e-2).
                assert!(moved > 1e-3, "{arch:?} part {part} did not move");
            }
        }
    }

    /// Every architecture trains (on the fused path) and gives finite
    /// samples; the same seed gives the same weights.
    #[test]
    fn every_architecture_steps_and_is_reproducible() {
        let data = Arc::new(DatasetSpec::Mog { dim: 1, std: 0.1 }.generate(1000, 0));
        for arch in [
            Architecture::Mlp,
            Architecture::Skip,
            Architecture::SkipFixed,
            Architecture::TwoModel,
            Architecture::HighNoiseOnly,
        ] {
            let run = || {
                let mut tr = Trainer::new(config(arch, 8, 1e-3), data.clone()).unwrap();
                for _ in 0..5 {
                    assert!(tr.step().unwrap().is_finite());
                }
                tr.weights()
            };
            let (a, b) = (run(), run());
            assert_eq!(a, b, "{arch:?} not reproducible");
            assert_eq!(a.len(), config(arch, 8, 1e-3).net.part_configs().len());
        }
    }

    /// Loading weights (as from a checkpoint) reproduces them exactly on both paths, continues
    /// the iteration count, and refuses another architecture's weights.
    #[test]
    fn load_weights_round_trips_and_checks_shapes() {
        let data = Arc::new(DatasetSpec::Mog { dim: 1, std: 0.1 }.generate(500, 0));
        for arch in [
            Architecture::Mlp,
            Architecture::Skip,
            Architecture::TwoModel,
        ] {
            let mut src = Trainer::new(config(arch, 8, 1e-3), data.clone()).unwrap();
            for _ in 0..3 {
                src.step().unwrap();
            }
            let w = src.weights();
            let mut dst = Trainer::new(config(arch, 8, 1e-3), data.clone()).unwrap();
            dst.load_weights(&w, 3).unwrap();
            assert_eq!(dst.weights(), w, "{arch:?}");
            assert_eq!(dst.iteration(), 3);
            dst.step().unwrap();
            assert_eq!(dst.iteration(), 4);
            let mut other = Trainer::new(config(arch, 16, 1e-3), data.clone()).unwrap();
            assert!(
                other.load_weights(&w, 3).is_err(),
                "{arch:?}: width 8 into 16"
            );
        }
    }

    /// A learning rate of 100 blows the network up while every number stays finite: the loss
    /// passes EXPLODED_LOSS, training stops with the same error, and the weights are those of
    /// the step before.
    #[test]
    fn a_finite_explosion_stops_training_too() {
        let data = Arc::new(DatasetSpec::Mog { dim: 1, std: 0.1 }.generate(500, 0));
        let mut tr = Trainer::new(config(Architecture::Mlp, 16, 100.0), data).unwrap();
        let mut before = tr.weights();
        let err = loop {
            match tr.step() {
                Ok(l) => {
                    assert!(l <= EXPLODED_LOSS);
                    before = tr.weights();
                    assert!(tr.iteration() < 200, "no explosion in 200 steps at lr 100");
                }
                Err(e) => break e,
            }
        };
        match &err {
            TrainError::Diverged(d) => {
                assert!(d.loss.is_finite() && d.loss > EXPLODED_LOSS, "{d:?}");
                assert_eq!(d.last_good, tr.iteration());
            }
            other => panic!("{other}"),
        }
        assert_eq!(tr.weights(), before);
    }

    /// Poisoned data makes the loss NaN: training stops with a clear error and keeps the last
    /// finite weights.
    #[test]
    fn divergence_stops_and_keeps_last_good_weights() {
        let mut pts = DatasetSpec::Mog { dim: 1, std: 0.1 }.generate(100, 0);
        let data = Arc::new(pts.clone());
        let mut tr = Trainer::new(config(Architecture::Mlp, 8, 1e-3), data).unwrap();
        tr.step().unwrap();
        let good = tr.weights();
        pts.data.iter_mut().for_each(|v| *v = f32::NAN);
        tr.data = Arc::new(pts);
        let err = tr.step().unwrap_err();
        assert!(
            matches!(
                err,
                TrainError::Diverged(Diverged {
                    iteration: 2,
                    last_good: 1,
                    ..
                })
            ),
            "{err}"
        );
        assert_eq!(tr.weights(), good);
        assert!(err.to_string().contains("kept the last finite weights"));
    }
}
