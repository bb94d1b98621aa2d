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
        let device = config.device.resolve_for_mlp(net.num_params());
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
        self.on_pool(Self::step_here)
    }

    /// `f(self)`, on the thread pool where the fused path trains (where the caller already is,
    /// as inside another `on_pool`, this adds nothing): the step's parallel parts then start
    /// from a pool thread, which runs one part itself, instead of each waking the pool from
    /// outside and sleeping until it is done. On a 2-core VM (AMD Zen 4) a parallel call of two
    /// 100 µs jobs took 126 µs from outside the pool and 105 from inside, and after 200 µs of
    /// serial work (the pool gone to sleep) 196 and 157; config A's step ran 2% faster in 7
    /// paired rounds. burn's backends stay on the caller's thread: on wgpu a step run from a
    /// pool thread gave other weights (lavapipe), as if its kernels were chosen anew there.
    pub fn on_pool<R: Send>(&mut self, f: impl FnOnce(&mut Self) -> R + Send) -> R {
        if self.uses_fast_path() {
            rayon::scope(|_| f(self))
        } else {
            f(self)
        }
    }

    fn step_here(&mut self) -> Result<f64, TrainError> {
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
                    if diverged_at(loss, fast.grads_finite()) {
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
                    let grads_finite = nets.iter().all(|n| n.grads_finite());
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
mod tests;
