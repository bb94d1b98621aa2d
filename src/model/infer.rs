//! Inference on the fused CPU path: a score network's ε computed over host buffers instead of
//! burn ops, by the packed kernel ([`PackedMlp`]) for narrow networks on AVX2 machines and by
//! [`FastMlp`]'s `gemm` forward pass otherwise.
//!
//! It is the same function as [`ScoreNet`](super::ScoreNet) (tested to float32 tolerance from the
//! same weights, for every architecture) and implements the engine's [`EpsilonModel`], so every
//! sampler and diagnostic runs on it unchanged. On the CPU it removes burn's per-op dispatch from
//! the sampler's inner loop; the analysis thread and the CLI use it whenever the device is `flex`.

use std::sync::Mutex;

use rayon::prelude::*;

use burn::tensor::{Tensor, TensorData};

use super::fast::FastMlp;
use super::mlp::MlpWeights;
use super::net::{Architecture, NetSpec, ScoreNet};
use super::packed::PackedMlp;
use crate::device::ResolvedDevice;
use crate::diffusion::NoiseProcess;
use crate::diffusion::model::{EpsilonModel, HostStep, Times, to_host};

/// A score network on the fused CPU path.
#[derive(Debug)]
pub struct FastScoreNet {
    spec: NetSpec,
    /// One MLP per part, in [`NetSpec::part_configs`] order.
    parts: Vec<Part>,
}

/// One part: the packed inference kernel where it applies, else the `gemm` path (behind a
/// mutex because a forward pass reuses its work buffers).
#[derive(Debug)]
struct Part {
    packed: Option<PackedMlp>,
    fused: Mutex<FastMlp>,
}

impl FastScoreNet {
    /// Builds the parts from host weights (in [`NetSpec::part_configs`] order).
    ///
    /// # Panics
    /// When the weights are not the spec's parts (their number or any part's shape): callers
    /// hand over weights a checkpoint loader or a trainer has already matched to the spec.
    pub fn new(spec: NetSpec, weights: &[MlpWeights]) -> Self {
        let configs = spec.part_configs();
        assert_eq!(weights.len(), configs.len(), "FastScoreNet::new: parts");
        for (w, (name, c)) in weights.iter().zip(&configs) {
            assert_eq!(
                &w.config, c,
                "FastScoreNet::new: part '{name}' is another network"
            );
        }
        let parts = weights
            .iter()
            .map(|w| Part {
                packed: PackedMlp::new(w),
                fused: Mutex::new(FastMlp::new(w)),
            })
            .collect();
        Self { spec, parts }
    }

    /// The spec.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// Part `part`'s forward pass; with `here`, on the calling thread alone (the packed kernel's
    /// [`PackedMlp::forward_here`]).
    fn forward(&self, part: usize, input: &[f32], rows: usize, here: bool) -> Vec<f32> {
        let part = &self.parts[part];
        match &part.packed {
            Some(packed) if here => packed.forward_here(input, rows),
            Some(packed) => packed.forward(input, rows),
            // The scratch buffers behind the lock are rewritten by every forward pass, so a
            // poisoned lock holds nothing stale (the one policy, `crate::sync::lock`).
            None => crate::sync::lock(&part.fused).forward(input, rows),
        }
    }

    /// ε̂ on host rows: the network's output converted by its objective.
    ///
    /// # Shapes
    /// `x`: `[n, d]` row-major → `[n, d]`
    pub fn epsilon_host(&self, x: &[f32], n: usize, t: &Times) -> Vec<f32> {
        self.epsilon_with(x, n, t, false)
    }

    /// [`Self::epsilon_host`]; with `here`, on the calling thread alone.
    fn epsilon_with(&self, x: &[f32], n: usize, t: &Times, here: bool) -> Vec<f32> {
        let mut out = self.output_with(x, n, t, here);
        let s = &self.spec;
        s.objective
            .outputs_to_epsilon(&s.process, s.data_std, s.mlp.dim, x, &mut out, t);
        out
    }

    /// The network's own output `o_θ` on host rows (the objective's input preconditioning
    /// applied).
    ///
    /// # Shapes
    /// `x`: `[n, d]` row-major → `[n, d]`
    pub fn output_host(&self, x: &[f32], n: usize, t: &Times) -> Vec<f32> {
        self.output_with(x, n, t, false)
    }

    /// [`Self::output_host`]; with `here`, on the calling thread alone.
    fn output_with(&self, x: &[f32], n: usize, t: &Times, here: bool) -> Vec<f32> {
        let d = self.spec.mlp.dim;
        assert_eq!(x.len(), n * d, "FastScoreNet: x is not [{n}, {d}]");
        let time = |i: usize| match t {
            Times::Shared(t) => *t,
            Times::PerRow(ts) => ts[i],
        };
        let obj = self.spec.objective;
        let (process, data_std) = (self.spec.process, self.spec.data_std);
        // The time feature the networks see, and the factor on x (1 but for EDM); at one time
        // shared by every row (a sampler's step), computed once.
        let feature_at = |t: f64| -> (f32, f32) {
            if obj.plain_input() {
                (t as f32, 1.0)
            } else {
                let c = obj.coefficients(&process, data_std, t);
                (c.time_feature as f32, c.input_scale as f32)
            }
        };
        let shared = match t {
            Times::Shared(t) => Some(feature_at(*t)),
            Times::PerRow(_) => None,
        };
        let feature = |i: usize| shared.unwrap_or_else(|| feature_at(time(i)));
        match self.spec.arch {
            Architecture::Mlp | Architecture::HighNoiseOnly => {
                let (input, m) = with_time(x, d, 0..n, feature);
                self.forward(0, &input, m, here)
            }
            Architecture::SkipFixed => {
                let (input, m) = with_time(x, d, 0..n, feature);
                let mut f = self.forward(0, &input, m, here);
                let shared = match t {
                    Times::Shared(t) => Some(self.spec.fixed_skip(*t)),
                    Times::PerRow(_) => None,
                };
                for (i, (row, xr)) in f.chunks_exact_mut(d).zip(x.chunks_exact(d)).enumerate() {
                    let (c_skip, c_out) = shared.unwrap_or_else(|| self.spec.fixed_skip(time(i)));
                    for (e, &xv) in row.iter_mut().zip(xr) {
                        *e = (c_skip as f32) * xv + (c_out as f32) * *e;
                    }
                }
                f
            }
            Architecture::Skip => {
                let (input, m) = with_time(x, d, 0..n, feature);
                let mut f = self.forward(0, &input, m, here);
                // The coefficient networks see the time alone: one row at a shared time.
                let ts: Vec<f32> = match shared {
                    Some((tau, _)) => vec![tau],
                    None => (0..n).map(|i| feature(i).0).collect(),
                };
                let c_skip = self.forward(1, &ts, ts.len(), here);
                let c_out = self.forward(2, &ts, ts.len(), here);
                let row_of = |i: usize| if ts.len() == 1 { 0 } else { i };
                for (i, (row, xr)) in f.chunks_exact_mut(d).zip(x.chunks_exact(d)).enumerate() {
                    let (cs, co) = (c_skip[row_of(i)], c_out[row_of(i)]);
                    for (e, &xv) in row.iter_mut().zip(xr) {
                        *e = cs * xv + co * *e;
                    }
                }
                f
            }
            Architecture::TwoModel => {
                let split = self.spec.t_split;
                let mut out = vec![0f32; n * d];
                for (part, high) in [(0, false), (1, true)] {
                    let idx: Vec<usize> = (0..n).filter(|&i| (time(i) >= split) == high).collect();
                    if idx.is_empty() {
                        continue;
                    }
                    let (input, m) = with_time(x, d, idx.iter().copied(), feature);
                    let eps = self.forward(part, &input, m, here);
                    for (&i, row) in idx.iter().zip(eps.chunks_exact(d)) {
                        out[i * d..(i + 1) * d].copy_from_slice(row);
                    }
                }
                out
            }
        }
    }
}

/// The networks' input rows `[k · x_i, τ_i]` for each row `i` of `rows` (`x` row-major `[n, d]`,
/// `feature(i) = (τ_i, k_i)`, `k = 1` for a plain input, where the product is exact), and how
/// many. One tight loop: per row, a dynamic iterator and `extend_from_slice` of `d` floats had
/// cost an ODE step on config A 0.18 ms of serial work (4% of the step, profiled on Zen 4).
fn with_time(
    x: &[f32],
    d: usize,
    rows: impl ExactSizeIterator<Item = usize>,
    feature: impl Fn(usize) -> (f32, f32),
) -> (Vec<f32>, usize) {
    let m = rows.len();
    let mut input = vec![0f32; m * (d + 1)];
    for (dst, i) in input.chunks_exact_mut(d + 1).zip(rows) {
        let (tau, k) = feature(i);
        for (o, &v) in dst.iter_mut().zip(&x[i * d..(i + 1) * d]) {
            *o = k * v;
        }
        dst[d] = tau;
    }
    (input, m)
}

/// The inference model for `weights` on `device`: the fused path on the CPU, burn's modules
/// elsewhere (same function either way).
pub fn inference_model(
    spec: NetSpec,
    weights: &[MlpWeights],
    device: &ResolvedDevice,
) -> Box<dyn EpsilonModel> {
    if device.is_cpu {
        Box::new(FastScoreNet::new(spec, weights))
    } else {
        Box::new(ScoreNet::new(spec, weights, &device.device))
    }
}

impl EpsilonModel for FastScoreNet {
    fn dim(&self) -> usize {
        self.spec.mlp.dim
    }

    fn process(&self) -> NoiseProcess {
        self.spec.process
    }

    fn epsilon(&self, x: Tensor<2>, t: &Times) -> Tensor<2> {
        let device = x.device();
        let [n, d] = x.dims();
        let eps = self.epsilon_host(&to_host(x), n, t);
        // Moved into the tensor, not copied as `to_tensor` would.
        Tensor::from_data(TensorData::new(eps, [n, d]), &device)
    }

    /// Where every part runs the packed kernel (whose rows do not depend on each other), the
    /// steps run in one parallel loop over blocks of rows, each block through a group of steps
    /// before the next group: no fork-join, no serial pass between steps, the block in cache.
    /// A group's noise is drawn (serially, in step order) before it runs.
    fn steps_host(
        &self,
        x: &mut [f32],
        steps: &[HostStep],
        noise: &mut (dyn FnMut() -> Vec<f32> + Send),
        mut record: Option<(&mut Vec<f32>, usize)>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Option<Result<(), usize>> {
        if self.parts.iter().any(|p| p.packed.is_none()) {
            return None;
        }
        let block = self.parts[0].packed.as_ref()?.block_rows_of_kernel();
        let d = self.spec.mlp.dim;
        let n = x.len() / d;
        let kept = record.as_ref().map_or(0, |r| r.1.min(n));
        // Steps per group: about ROW_STEPS_PER_GROUP row-steps (tens of ms), so that progress
        // comes often and the per-group fork-join costs nothing; fewer where the group's noise
        // would pass NOISE_PER_GROUP floats.
        let group = (ROW_STEPS_PER_GROUP / n.max(1))
            .min(NOISE_PER_GROUP / (n * d).max(1))
            .clamp(1, steps.len().max(1));
        // One group: per block, the first step its state was not finite at (or `usize::MAX`),
        // and its recorded rows' states after each step.
        let run_group = |x: &mut [f32], done: usize, draws: &[Option<Vec<f32>>]| {
            let todo = &steps[done..done + draws.len()];
            x.par_chunks_mut(block * d)
                .enumerate()
                .map(|(b, rows)| {
                    let (m, at) = (rows.len() / d, b * block * d);
                    let recorded = kept.saturating_sub(b * block).min(m) * d;
                    let mut states = Vec::with_capacity(todo.len() * recorded);
                    for (j, (step, z)) in todo.iter().zip(draws).enumerate() {
                        let z = z.as_ref().map(|z| &z[at..at + rows.len()]);
                        let finite = step.advance(rows, z, |x, t| {
                            self.epsilon_with(x, m, &Times::Shared(t), true)
                        });
                        if !finite {
                            return (done + j, states);
                        }
                        states.extend_from_slice(&rows[..recorded]);
                    }
                    (usize::MAX, states)
                })
                .collect::<Vec<(usize, Vec<f32>)>>()
        };
        // A group's noise, drawn in step order while the group before it runs (the draws are
        // serial: one random stream).
        let mut draw = |from: usize| -> Vec<Option<Vec<f32>>> {
            let to = (from + group).min(steps.len());
            steps[from..to]
                .iter()
                .map(|s| s.noise_std.map(|_| noise()))
                .collect()
        };
        let mut draws = draw(0);
        let mut done = 0;
        while done < steps.len() {
            let end = done + draws.len();
            let (blocks, next) = rayon::join(
                || run_group(x, done, &draws),
                || {
                    if end < steps.len() {
                        draw(end)
                    } else {
                        Vec::new()
                    }
                },
            );
            if let Some(bad) = blocks
                .iter()
                .map(|b| b.0)
                .min()
                .filter(|&i| i != usize::MAX)
            {
                return Some(Err(bad));
            }
            if let Some((trajectory, _)) = record.as_mut() {
                for s in 0..end - done {
                    for (_, states) in &blocks {
                        let per_step = states.len() / (end - done);
                        trajectory.extend_from_slice(&states[s * per_step..(s + 1) * per_step]);
                    }
                }
            }
            draws = next;
            done = end;
            progress(done, steps.len());
        }
        Some(Ok(()))
    }
}

/// Noise floats drawn ahead per group of [`FastScoreNet::steps_host`] at most (16 MB).
const NOISE_PER_GROUP: usize = 1 << 22;

/// Row-steps per group of [`FastScoreNet::steps_host`]: at config A's 4 M row-steps/s on two
/// cores, about 50 ms a group (10 steps of 20,000 particles, 100 of the app's 2,000).
const ROW_STEPS_PER_GROUP: usize = 200_000;

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::diffusion::Objective;
    use crate::diffusion::model::to_tensor;
    use crate::model::mlp::{Activation, MlpConfig};

    /// Weights of another width are refused where the model is built, not deep in a kernel.
    #[test]
    #[should_panic(expected = "part 'main' is another network")]
    fn weights_of_another_network_are_refused() {
        let spec = |width| NetSpec {
            arch: Architecture::Mlp,
            mlp: MlpConfig::new(2, width, 2, Activation::Tanh),
            process: NoiseProcess::vp(),
            t_split: 0.5,
            data_std: 1.0,
            objective: Default::default(),
        };
        let _ = FastScoreNet::new(spec(16), &spec(32).init_weights(0));
    }

    /// From the same weights, the fused path and burn's modules give the same ε for every
    /// architecture, with shared and per-row times (float32 tolerance: sums of ~100 products of
    /// O(1) terms carry relative errors of a few 1e-6).
    #[test]
    fn matches_burn_score_net_for_every_architecture() {
        let device = Device::flex();
        let (n, d) = (300, 3);
        let x: Vec<f32> = (0..n * d)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let per_row: Vec<f64> = (0..n).map(|i| 1e-3 + i as f64 / n as f64 * 0.998).collect();
        for &arch in Architecture::all() {
            // Every objective (the shared-time fast paths compute its coefficients once).
            for (activation, &objective) in [Activation::Tanh, Activation::Silu]
                .into_iter()
                .flat_map(|a| Objective::all().iter().map(move |o| (a, o)))
            {
                let spec = NetSpec {
                    arch,
                    mlp: MlpConfig::new(d, 24, 2, activation),
                    process: NoiseProcess::vp(),
                    t_split: 0.5,
                    data_std: 0.7,
                    objective,
                };
                if spec.check().is_err() {
                    continue;
                }
                let w = spec.init_weights(11);
                let burn_net = ScoreNet::new(spec.clone(), &w, &device);
                let fast = FastScoreNet::new(spec, &w);
                for t in [
                    Times::Shared(0.3),
                    Times::Shared(0.8),
                    Times::PerRow(per_row.clone()),
                ] {
                    let want = to_host(burn_net.epsilon(to_tensor(&x, n, d, &device), &t));
                    let got = to_host(fast.epsilon(to_tensor(&x, n, d, &device), &t));
                    let worst = want
                        .iter()
                        .zip(&got)
                        .map(|(a, b)| (a - b).abs() / (1.0 + a.abs()))
                        .fold(0f32, f32::max);
                    assert!(
                        worst < 1e-4,
                        "{arch:?} {activation:?} {objective} {t:?}: {worst}"
                    );
                }
            }
        }
    }

    /// The model as the sampler sees it without the fused Euler ODE: it steps through
    /// `velocity` (burn's elementwise operations) and the parallel forward pass.
    struct StepByStep<'a>(&'a FastScoreNet);

    impl EpsilonModel for StepByStep<'_> {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn process(&self) -> NoiseProcess {
            self.0.process()
        }
        fn epsilon(&self, x: Tensor<2>, t: &Times) -> Tensor<2> {
            self.0.epsilon(x, t)
        }
    }

    /// The fused host path (blocks of rows through groups of steps) gives the step-by-step
    /// sampler's samples and paths bit for bit, for the Euler ODE, the SDE (γ = 1 and 0.5),
    /// DDIM (η = 0 and 0.5), Heun and DPM-Solver-2, every architecture, objective and process,
    /// unrecorded and recorded, over several groups of steps; reports progress to the last
    /// step; and stops at the same step when the state overflows.
    #[test]
    fn fused_host_steps_match_the_step_by_step_sampler() {
        use crate::data::Points;
        use crate::diffusion::{SamplerConfig, SamplerKind, initial_noise, sample_from};
        let device = Device::flex();
        // 4,100 rows: ROW_STEPS_PER_GROUP / 4,100 = 48 steps a group, 3 groups over 120 steps,
        // and a last block of 4 rows.
        let (n, d, steps) = (4100, 2, 120);
        let ode = SamplerConfig::new(SamplerKind::OdeEuler).with_steps(steps);
        let samplers = [
            ode.clone(),
            SamplerConfig::new(SamplerKind::Sde).with_steps(steps),
            SamplerConfig::new(SamplerKind::Sde)
                .with_steps(steps)
                .with_noise_scale(0.5),
            SamplerConfig::new(SamplerKind::Ddim).with_steps(steps),
            SamplerConfig::new(SamplerKind::Ddim)
                .with_steps(steps)
                .with_eta(0.5),
            SamplerConfig::new(SamplerKind::OdeHeun).with_steps(steps),
            SamplerConfig::new(SamplerKind::DpmSolver2).with_steps(steps),
        ];
        let start = Points::new(n, d, initial_noise(n, d, 3));
        let mut combination = 0;
        for &arch in Architecture::all() {
            for (&objective, process) in Objective::all().iter().zip(
                [
                    NoiseProcess::vp(),
                    NoiseProcess::sub_vp(),
                    NoiseProcess::Linear,
                ]
                .iter()
                .cycle(),
            ) {
                let spec = NetSpec {
                    arch,
                    mlp: MlpConfig::new(d, 24, 2, Activation::Tanh),
                    process: *process,
                    t_split: 0.5,
                    data_std: 0.7,
                    objective,
                };
                if spec.check().is_err() {
                    continue;
                }
                let fast = FastScoreNet::new(spec.clone(), &spec.init_weights(5));
                if fast.parts.iter().any(|p| p.packed.is_none()) {
                    // No packed kernel on this CPU: the sampler steps as before.
                    let mut x = start.data.clone();
                    let none = fast.steps_host(&mut x, &[], &mut Vec::new, None, &mut |_, _| {});
                    assert!(none.is_none());
                    continue;
                }
                for (k, cfg) in samplers.iter().enumerate() {
                    // Unrecorded, the first 100 rows recorded (the second block cut), every row:
                    // in turn over the combinations.
                    combination += 1;
                    let cfg = match (combination + k) % 3 {
                        0 => cfg.clone(),
                        1 => cfg.clone().recording_first(100),
                        _ => cfg.clone().recording(),
                    };
                    let mut calls = Vec::new();
                    let got = sample_from(&fast, &cfg, start.clone(), 0, &device, &mut |i, k| {
                        calls.push((i, k))
                    })
                    .unwrap();
                    let want = sample_from(
                        &StepByStep(&fast),
                        &cfg,
                        start.clone(),
                        0,
                        &device,
                        &mut |_, _| {},
                    )
                    .unwrap();
                    let what = format!(
                        "{} (γ {}, η {}) {arch:?} {objective} {}, recording {:?}",
                        cfg.kind.name(),
                        cfg.noise_scale,
                        cfg.eta,
                        process.name(),
                        cfg.record_trajectory.then_some(cfg.record_particles)
                    );
                    assert_eq!(got.times, want.times, "{what}");
                    assert_eq!(
                        got.trajectory_particles, want.trajectory_particles,
                        "{what}"
                    );
                    let (a, b) = (
                        got.trajectory.unwrap_or_default(),
                        want.trajectory.unwrap_or_default(),
                    );
                    assert_eq!(a.len(), b.len(), "{what}");
                    for (got, want, name) in [
                        (&got.samples.data, &want.samples.data, "samples"),
                        (&a, &b, "path"),
                    ] {
                        let differ = got
                            .iter()
                            .zip(want)
                            .filter(|(a, b)| a.to_bits() != b.to_bits())
                            .count();
                        assert_eq!(
                            differ,
                            0,
                            "{what}: {differ} of {} {name} values differ",
                            got.len()
                        );
                    }
                    assert_eq!(calls, [(48, steps), (96, steps), (steps, steps)], "{what}");
                }
            }
        }
        let cfg = ode;
        // An output bias near f32's largest value: the state overflows; both stop at one step.
        let spec = NetSpec {
            arch: Architecture::Mlp,
            mlp: MlpConfig::new(d, 24, 2, Activation::Tanh),
            process: NoiseProcess::vp(),
            t_split: 0.5,
            data_std: 1.0,
            objective: Objective::default(),
        };
        let mut w = spec.init_weights(5);
        w[0].layers.last_mut().unwrap().bias.fill(3e37);
        let fast = FastScoreNet::new(spec, &w);
        let got = sample_from(&fast, &cfg, start.clone(), 0, &device, &mut |_, _| {});
        let want = sample_from(&StepByStep(&fast), &cfg, start, 0, &device, &mut |_, _| {});
        assert!(want.is_err(), "the overflow test did not overflow");
        assert_eq!(got.unwrap_err(), want.unwrap_err());
    }
}
