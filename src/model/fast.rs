//! A fused CPU path for the MLP: forward, backward and Adam over contiguous `f32` buffers,
//! GEMMs through the `gemm` crate (the one burn's `flex` backend uses), a vectorised Tanh.
//!
//! It computes exactly what the burn module [`super::Mlp`] computes (tested to float32
//! tolerance, outputs and gradients from the same weights) without per-op dispatch: on the
//! paper's 2D preset this is the difference between ~39 ms and a few ms per iteration.

use rayon::prelude::*;

use super::mlp::{Activation, MlpConfig, MlpWeights};
use super::sgemm::MatRef;
mod activation;
mod matmul;

#[cfg(target_arch = "x86_64")]
pub(crate) use activation::{TANH_CLAMP, TANH_P, TANH_Q};
use activation::{add_bias_and_activate, derivative};
pub use activation::{tanh_approx, tanh_rows_with_bias};
pub use matmul::{gemm_kernel, kernel_for, matmul};

/// Adam hyper-parameters (PyTorch's defaults).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamSettings {
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator guard.
    pub eps: f32,
}

impl Default for AdamSettings {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// An MLP with its gradients, Adam state and work buffers, all contiguous.
///
/// The batch is cut into a fixed number of row shards ([`SHARDS`]) that run forward and
/// backward in parallel, each single-threaded with its own buffers; their weight gradients are
/// summed in shard order. One fork-join per pass instead of one per operation, and the same
/// numbers whatever the machine's thread count.
#[derive(Clone, Debug)]
pub struct FastMlp {
    config: MlpConfig,
    shapes: Vec<(usize, usize)>,
    /// Offsets of each layer's weight and bias in `params`.
    offsets: Vec<(usize, usize)>,
    params: Vec<f32>,
    grads: Vec<f32>,
    /// Whether every entry of `grads` is finite.
    grads_finite: bool,
    adam_m: Vec<f32>,
    adam_v: Vec<f32>,
    adam_t: i32,
    shards: Vec<Shard>,
}

/// Row shards of a batch (when the batch has at least `SHARDS * MIN_SHARD_ROWS` rows).
///
/// Fixed (not the thread count) so that results do not depend on the machine. Two shards
/// keep each GEMM large: on 2 cores, 4 shards cost 150 ms per MoG-preset iteration and 2
/// shards 121 ms (2D preset 3.5 → 3.3 ms). Machines with many cores would want more shards.
pub const SHARDS: usize = 2;
const MIN_SHARD_ROWS: usize = 64;
/// Parameters per parallel chunk where the shards' gradients are summed.
const GRAD_CHUNK: usize = 1 << 15;

/// One shard's buffers.
#[derive(Clone, Debug, Default)]
struct Shard {
    rows: usize,
    /// Activations `h_0 … h_L` (`h_0` is the input).
    acts: Vec<Vec<f32>>,
    /// Pre-activations of hidden layers (kept for SiLU's derivative).
    pre: Vec<Vec<f32>>,
    work_a: Vec<f32>,
    work_b: Vec<f32>,
    grads: Vec<f32>,
    loss: f64,
    /// Per-row `∂L/∂a_i` and `∂L/∂c_i` of the last skip-head loss (`[rows]` each).
    head_grads: (Vec<f32>, Vec<f32>),
}

/// Read-only view of the network for a shard.
struct Net<'a> {
    shapes: &'a [(usize, usize)],
    offsets: &'a [(usize, usize)],
    params: &'a [f32],
    activation: Activation,
}

impl Net<'_> {
    fn forward(&self, s: &mut Shard, input: &[f32]) {
        let b = s.rows;
        s.acts[0].copy_from_slice(input);
        let last = self.shapes.len() - 1;
        for l in 0..=last {
            let (fi, fo) = self.shapes[l];
            let (wo, bo) = self.offsets[l];
            let (before, after) = s.acts.split_at_mut(l + 1);
            let h_in = &before[l];
            let z = &mut after[0];
            // z[b, fo] = h_in[b, fi] · W[fi, fo], then the bias and the activation in one pass
            // over z (a pass that first filled z with the bias, for the product to add to, cost
            // config B 3% of a step in memmove alone)
            let w = MatRef::view(&self.params[wo..], false, fi, fo);
            matmul(b, fo, fi, z, fo, MatRef::view(h_in, false, b, fi), w, false);
            let act = (l < last).then_some(self.activation);
            add_bias_and_activate(act, z, &self.params[bo..bo + fo], s.pre.get_mut(l));
        }
    }

    /// Backward from `g = dL/dy` (already in `s.work_a`), into `s.grads`.
    fn backward(&self, s: &mut Shard) {
        let b = s.rows;
        let last = self.shapes.len() - 1;
        for l in (0..=last).rev() {
            let (fi, fo) = self.shapes[l];
            let (wo, bo) = self.offsets[l];
            let g = &s.work_a[..b * fo];
            let h_in = &s.acts[l];
            // dW[fi, fo] = h_inᵀ[fi, b] · g[b, fo]
            let (h_t, gm) = (
                MatRef::view(h_in, true, fi, b),
                MatRef::view(g, false, b, fo),
            );
            matmul(
                fi,
                fo,
                b,
                &mut s.grads[wo..wo + fi * fo],
                fo,
                h_t,
                gm,
                false,
            );
            // db = column sums of g
            let db = &mut s.grads[bo..bo + fo];
            db.fill(0.0);
            for row in g.chunks_exact(fo) {
                for (d, &v) in db.iter_mut().zip(row) {
                    *d += v;
                }
            }
            if l > 0 {
                // g_h[b, fi] = g[b, fo] · Wᵀ[fo, fi]
                let gh = &mut s.work_b[..b * fi];
                let w_t = MatRef::view(&self.params[wo..], true, fo, fi);
                matmul(b, fi, fo, gh, fi, gm, w_t, false);
                derivative(
                    self.activation,
                    gh,
                    &s.acts[l],
                    s.pre.get(l - 1).map(Vec::as_slice),
                );
                std::mem::swap(&mut s.work_a, &mut s.work_b);
            }
        }
    }
}

impl FastMlp {
    /// From host weights.
    pub fn new(w: &MlpWeights) -> Self {
        let shapes = w.config.layer_shapes();
        let mut offsets = Vec::with_capacity(shapes.len());
        let mut off = 0;
        for &(i, o) in &shapes {
            offsets.push((off, off + i * o));
            off += i * o + o;
        }
        let params = w.flatten();
        let n = params.len();
        Self {
            config: w.config.clone(),
            shapes,
            offsets,
            params,
            grads: vec![0.0; n],
            grads_finite: true,
            adam_m: vec![0.0; n],
            adam_v: vec![0.0; n],
            adam_t: 0,
            shards: Vec::new(),
        }
    }

    /// The current weights in canonical host form.
    pub fn weights(&self) -> MlpWeights {
        MlpWeights::from_flat(&self.config, &self.params)
    }

    /// Overwrites the weights (keeps the Adam state).
    pub fn set_weights(&mut self, w: &MlpWeights) {
        assert_eq!(
            w.config, self.config,
            "FastMlp::set_weights: other architecture"
        );
        self.params = w.flatten();
    }

    /// The gradient of the last [`Self::loss_and_grad`], flat in parameter order.
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    /// The architecture.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// Rows of each shard for a batch of `b`.
    fn shard_rows(b: usize) -> Vec<usize> {
        let k = if b >= SHARDS * MIN_SHARD_ROWS {
            SHARDS
        } else {
            1
        };
        (0..k).map(|i| b / k + usize::from(i < b % k)).collect()
    }

    fn ensure_buffers(&mut self, b: usize) {
        let rows = Self::shard_rows(b);
        if self.shards.len() == rows.len()
            && self.shards.iter().zip(&rows).all(|(s, r)| s.rows == *r)
        {
            return;
        }
        let keep_pre = self.config.activation == Activation::Silu;
        let widest = self.shapes.iter().map(|s| s.0.max(s.1)).max().unwrap_or(1);
        self.shards = rows
            .into_iter()
            .map(|r| Shard {
                rows: r,
                acts: std::iter::once(self.shapes[0].0)
                    .chain(self.shapes.iter().map(|s| s.1))
                    .map(|w| vec![0.0; r * w])
                    .collect(),
                pre: self.shapes[..self.shapes.len() - 1]
                    .iter()
                    .map(|s| {
                        if keep_pre {
                            vec![0.0; r * s.1]
                        } else {
                            Vec::new()
                        }
                    })
                    .collect(),
                work_a: vec![0.0; r * widest],
                work_b: vec![0.0; r * widest],
                grads: vec![0.0; self.params.len()],
                loss: 0.0,
                head_grads: (Vec::new(), Vec::new()),
            })
            .collect();
    }

    fn net(&self) -> Net<'_> {
        Net {
            shapes: &self.shapes,
            offsets: &self.offsets,
            params: &self.params,
            activation: self.config.activation,
        }
    }

    /// Forward pass on `input` `[b, d + 1]` (`[x, t]` rows); returns the output `[b, out]`.
    pub fn forward(&mut self, input: &[f32], b: usize) -> Vec<f32> {
        let fan_in0 = self.shapes[0].0;
        assert_eq!(
            input.len(),
            b * fan_in0,
            "FastMlp::forward: input is not [{b}, {fan_in0}]"
        );
        self.ensure_buffers(b);
        let mut shards = std::mem::take(&mut self.shards);
        let net = self.net();
        let inputs = split_rows(input, &shards, fan_in0);
        shards
            .par_iter_mut()
            .zip(inputs)
            .for_each(|(s, x)| net.forward(s, x));
        let out: Vec<f32> = shards
            .iter()
            .flat_map(|s| s.acts.last().expect("output").iter().copied())
            .collect();
        self.shards = shards;
        out
    }

    /// Mean squared error `‖out − target‖²/(b·d)` and its gradient (into [`Self::grads`]).
    pub fn loss_and_grad(&mut self, input: &[f32], target: &[f32], b: usize) -> f32 {
        self.loss_and_grad_with(input, target, None, b)
    }

    /// The same for the fixed skip connection's prediction `ε̂ = a_i x_i + c_i F(x_i, t_i)`
    /// per row `i` (`head`): `‖ε̂ − target‖²/(b·d)`, and its gradient through `F`
    /// (`∂/∂F = c_i · 2 (ε̂ − target)/(b·d)`).
    pub fn loss_and_grad_skip(
        &mut self,
        input: &[f32],
        target: &[f32],
        head: SkipHead<'_>,
        b: usize,
    ) -> f32 {
        let out_dim = self.shapes[self.shapes.len() - 1].1;
        assert!(
            head.a.len() == b && head.c.len() == b && head.x.len() == b * out_dim,
            "FastMlp::loss_and_grad_skip: head shapes"
        );
        self.loss_and_grad_with(input, target, Some(head), b)
    }

    fn loss_and_grad_with(
        &mut self,
        input: &[f32],
        target: &[f32],
        head: Option<SkipHead<'_>>,
        b: usize,
    ) -> f32 {
        let fan_in0 = self.shapes[0].0;
        let out_dim = self.shapes[self.shapes.len() - 1].1;
        assert_eq!(
            input.len(),
            b * fan_in0,
            "FastMlp::loss_and_grad: input is not [{b}, {fan_in0}]"
        );
        assert_eq!(
            target.len(),
            b * out_dim,
            "FastMlp::loss_and_grad: target shape"
        );
        self.ensure_buffers(b);
        let mut shards = std::mem::take(&mut self.shards);
        let net = self.net();
        let scale = 2.0 / (b * out_dim) as f32;
        let inputs = split_rows(input, &shards, fan_in0);
        let targets = split_rows(target, &shards, out_dim);
        let heads: Vec<Option<SkipHead<'_>>> = match head {
            None => vec![None; shards.len()],
            Some(h) => {
                let (a, c) = (split_rows(h.a, &shards, 1), split_rows(h.c, &shards, 1));
                let x = split_rows(h.x, &shards, out_dim);
                (0..shards.len())
                    .map(|i| {
                        Some(SkipHead {
                            a: a[i],
                            c: c[i],
                            x: x[i],
                        })
                    })
                    .collect()
            }
        };
        shards
            .par_iter_mut()
            .zip(inputs.into_par_iter().zip(targets).zip(heads))
            .for_each(|(s, ((x, tgt), head))| {
                net.forward(s, x);
                let y = s.acts.last().expect("output");
                let mut loss = 0.0f64;
                match head {
                    None => {
                        for ((gi, &yi), &ti) in s.work_a.iter_mut().zip(y).zip(tgt) {
                            let r = yi - ti;
                            loss += (r as f64) * (r as f64);
                            *gi = scale * r;
                        }
                    }
                    Some(h) => {
                        let (ga, gc) = &mut s.head_grads;
                        ga.clear();
                        gc.clear();
                        ga.resize(s.rows, 0.0);
                        gc.resize(s.rows, 0.0);
                        for (k, ((gi, &yi), &ti)) in s.work_a.iter_mut().zip(y).zip(tgt).enumerate()
                        {
                            let row = k / out_dim;
                            let r = h.a[row] * h.x[k] + h.c[row] * yi - ti;
                            loss += (r as f64) * (r as f64);
                            *gi = scale * h.c[row] * r;
                            ga[row] += scale * r * h.x[k];
                            gc[row] += scale * r * yi;
                        }
                    }
                }
                s.loss = loss;
                net.backward(s);
            });
        self.sum_shard_grads(&shards);
        let loss = shards.iter().map(|s| s.loss).sum::<f64>() / (b * out_dim) as f64;
        self.shards = shards;
        loss as f32
    }

    /// After [`Self::loss_and_grad_skip`]: the loss's gradient with respect to each row's head
    /// coefficients, `(∂L/∂a_i, ∂L/∂c_i)` (`[b]` each), for the learned skip connection, whose
    /// coefficients are themselves networks of `t` ([`Self::backward_from`] takes them on).
    pub fn head_grads(&self) -> (Vec<f32>, Vec<f32>) {
        let ga = self
            .shards
            .iter()
            .flat_map(|s| s.head_grads.0.iter().copied());
        let gc = self
            .shards
            .iter()
            .flat_map(|s| s.head_grads.1.iter().copied());
        (ga.collect(), gc.collect())
    }

    /// The gradient of a loss whose derivative with respect to the output of the last
    /// [`Self::forward`] is `dy` (`[b, out]`, the same `b` rows), into [`Self::grads`].
    pub fn backward_from(&mut self, dy: &[f32], b: usize) {
        let out_dim = self.shapes[self.shapes.len() - 1].1;
        assert!(
            dy.len() == b * out_dim && self.shards.iter().map(|s| s.rows).sum::<usize>() == b,
            "FastMlp::backward_from: dy is not [{b}, {out_dim}] or no forward pass on {b} rows"
        );
        let mut shards = std::mem::take(&mut self.shards);
        let net = self.net();
        let dys = split_rows(dy, &shards, out_dim);
        shards.par_iter_mut().zip(dys).for_each(|(s, g)| {
            s.work_a[..g.len()].copy_from_slice(g);
            net.backward(s);
        });
        self.sum_shard_grads(&shards);
        self.shards = shards;
    }

    /// [`Self::grads`] ← the shards' gradients, summed in shard order (so the result does not
    /// depend on the thread count), and whether every one is finite; in parallel over chunks
    /// of [`GRAD_CHUNK`] (config B's million parameters; config A's 20,000 are one chunk).
    fn sum_shard_grads(&mut self, shards: &[Shard]) {
        let (first, rest) = shards.split_first().expect("at least one shard");
        let finite = self
            .grads
            .par_chunks_mut(GRAD_CHUNK)
            .enumerate()
            .map(|(c, g)| {
                let at = c * GRAD_CHUNK..c * GRAD_CHUNK + g.len();
                g.copy_from_slice(&first.grads[at.clone()]);
                for s in rest {
                    g.iter_mut()
                        .zip(&s.grads[at.clone()])
                        .for_each(|(g, v)| *g += v);
                }
                g.iter().all(|v| v.is_finite())
            })
            .reduce(|| true, |a, b| a && b);
        self.grads_finite = finite;
    }

    /// Whether every entry of [`Self::grads`] is finite (checked as the shards' gradients are
    /// summed).
    pub fn grads_finite(&self) -> bool {
        self.grads_finite
    }

    /// One Adam step with learning rate `lr` on the current gradient.
    pub fn adam_step(&mut self, lr: f32, s: AdamSettings) {
        self.adam_t += 1;
        let bc1 = 1.0 - s.beta1.powi(self.adam_t);
        let bc2 = 1.0 - s.beta2.powi(self.adam_t);
        let step = lr / bc1;
        let inv_sqrt_bc2 = 1.0 / bc2.sqrt();
        let update = |((p, g), (m, v)): ((&mut f32, &f32), (&mut f32, &mut f32))| {
            *m = s.beta1 * *m + (1.0 - s.beta1) * g;
            *v = s.beta2 * *v + (1.0 - s.beta2) * g * g;
            *p -= step * *m / (v.sqrt() * inv_sqrt_bc2 + s.eps);
        };
        self.params
            .par_chunks_mut(1 << 16)
            .zip(self.grads.par_chunks(1 << 16))
            .zip(
                self.adam_m
                    .par_chunks_mut(1 << 16)
                    .zip(self.adam_v.par_chunks_mut(1 << 16)),
            )
            .for_each(|((p, g), (m, v))| {
                p.iter_mut()
                    .zip(g)
                    .zip(m.iter_mut().zip(v.iter_mut()))
                    .for_each(update)
            });
    }

    /// Adam steps taken so far.
    pub fn adam_steps(&self) -> i32 {
        self.adam_t
    }
}

/// The shards' row ranges of a row-major `[b, width]` array.
fn split_rows<'a>(x: &'a [f32], shards: &[Shard], width: usize) -> Vec<&'a [f32]> {
    let mut out = Vec::with_capacity(shards.len());
    let mut rest = x;
    for s in shards {
        let (head, tail) = rest.split_at(s.rows * width);
        out.push(head);
        rest = tail;
    }
    out
}

/// The output head of the fixed skip connection, per row `i` of a batch:
/// `ε̂_i = a_i x_i + c_i F(x_i, t_i)`.
#[derive(Clone, Copy, Debug)]
pub struct SkipHead<'a> {
    /// `c_skip(t_i)`, `[b]`.
    pub a: &'a [f32],
    /// `c_out(t_i)`, `[b]`.
    pub c: &'a [f32],
    /// The noised inputs `x_i`, `[b, d]`.
    pub x: &'a [f32],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mlp::Mlp;
    use burn::tensor::{Device, Tensor, TensorData};

    /// Outputs and gradients of the fused path equal burn's (autodiff on `flex`) from the same
    /// weights, for every activation, to float32 tolerance.
    #[test]
    fn fast_path_matches_burn_outputs_and_gradients() {
        for act in [Activation::Tanh, Activation::Relu, Activation::Silu] {
            let config = MlpConfig::new(3, 16, 2, act);
            let w = MlpWeights::init(&config, 5);
            let b = 301; // four uneven shards
            let mut rng_state = 1u32;
            let mut next = || {
                rng_state = rng_state
                    .wrapping_mul(1_664_525)
                    .wrapping_add(1_013_904_223);
                (rng_state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            };
            let input: Vec<f32> = (0..b * 4).map(|_| next()).collect();
            let target: Vec<f32> = (0..b * 3).map(|_| next()).collect();
            let mut fast = FastMlp::new(&w);
            let loss = fast.loss_and_grad(&input, &target, b);
            let out_fast = fast.forward(&input, b);

            let dev = Device::flex().autodiff();
            let mlp = Mlp::from_weights(&w, &dev);
            let inp = Tensor::<2>::from_data(TensorData::new(input.clone(), [b, 4]), &dev);
            let x = inp.clone().slice([0..b, 0..3]);
            let t = inp.slice([0..b, 3..4]);
            let out = mlp.forward(Some(x), t);
            let tgt = Tensor::<2>::from_data(TensorData::new(target.clone(), [b, 3]), &dev);
            let l = out.clone().sub(tgt).square().mean();
            let burn_loss = l.clone().into_scalar::<f32>();
            let grads = l.backward();
            let out_burn = crate::diffusion::model::to_host(out.without_autodiff());
            for (a, c) in out_fast.iter().zip(&out_burn) {
                assert!((a - c).abs() < 1e-5, "{act:?} output {a} vs {c}");
            }
            assert!(
                (loss - burn_loss).abs() < 1e-5 * burn_loss.abs().max(1.0),
                "{act:?} loss"
            );
            let mut flat_burn = Vec::new();
            for layer in &mlp.layers {
                let gw = layer.weight.grad(&grads).expect("weight grad");
                let gb = layer
                    .bias
                    .as_ref()
                    .unwrap()
                    .grad(&grads)
                    .expect("bias grad");
                flat_burn.extend(
                    gw.into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .unwrap(),
                );
                flat_burn.extend(
                    gb.into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .unwrap(),
                );
            }
            assert_eq!(flat_burn.len(), fast.grads().len());
            let scale = flat_burn.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (i, (a, c)) in fast.grads().iter().zip(&flat_burn).enumerate() {
                assert!((a - c).abs() < 1e-4 * scale, "{act:?} grad {i}: {a} vs {c}");
            }
        }
    }

    /// The numbers do not depend on the machine's core count: config B's step (where the
    /// 1,000³ products split across threads the two shards leave idle) gives the same loss and
    /// gradients, bit for bit, on 1, 2 and 4 threads, and so does the forward pass.
    #[test]
    fn config_b_step_is_the_same_on_any_number_of_threads() {
        let config = MlpConfig::new(10, 1000, 2, Activation::Tanh);
        let w = MlpWeights::init(&config, 3);
        let b = 2000;
        assert!(super::matmul::kernel_for(b / SHARDS, 1000, 1000, false, false) != "packed");
        let mut state = 7u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        let input: Vec<f32> = (0..b * 11).map(|_| next()).collect();
        let target: Vec<f32> = (0..b * 10).map(|_| next()).collect();
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut fast = FastMlp::new(&w);
                let loss = fast.loss_and_grad(&input, &target, b);
                let kernel = super::matmul::kernel_for(b / SHARDS, 1000, 1000, false, false);
                (loss, fast.grads().to_vec(), fast.forward(&input, b), kernel)
            })
        };
        let (loss1, grads1, out1, kernel1) = on(1);
        assert_eq!(kernel1, "gemm");
        for threads in [2, 4] {
            let (loss, grads, out, kernel) = on(threads);
            assert_eq!(
                kernel == "gemm (threads)",
                threads > SHARDS,
                "{threads}: {kernel}"
            );
            assert_eq!(loss.to_bits(), loss1.to_bits(), "{threads} threads: loss");
            assert!(grads == grads1, "{threads} threads: gradients differ");
            assert!(out == out1, "{threads} threads: outputs differ");
        }
    }

    /// `grads_finite` says whether the summed gradient is finite, over more than one chunk of
    /// the parallel sum (config B's width): a non-finite target in one row of the second shard
    /// makes it false, and the next finite batch true again.
    #[test]
    fn non_finite_gradients_are_flagged() {
        let config = MlpConfig::new(1, 300, 2, Activation::Tanh);
        let mut fast = FastMlp::new(&MlpWeights::init(&config, 1));
        assert!(fast.grads().len() > 2 * GRAD_CHUNK);
        let b = 2 * SHARDS * MIN_SHARD_ROWS;
        let x: Vec<f32> = (0..2 * b).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut y: Vec<f32> = (0..b).map(|i| (i as f32 * 0.11).cos()).collect();
        fast.loss_and_grad(&x, &y, b);
        assert!(fast.grads_finite());
        assert!(fast.grads().iter().all(|g| g.is_finite()));
        y[b - 1] = f32::INFINITY;
        fast.loss_and_grad(&x, &y, b);
        assert!(!fast.grads_finite());
        assert!(!fast.grads().iter().all(|g| g.is_finite()));
        y[b - 1] = 0.5;
        fast.loss_and_grad(&x, &y, b);
        assert!(fast.grads_finite());
    }

    /// Adam's first step moves every parameter by lr·sign(g) (bias-corrected m̂/√v̂ = ±1).
    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let config = MlpConfig::new(1, 4, 1, Activation::Tanh);
        let w = MlpWeights::init(&config, 1);
        let mut fast = FastMlp::new(&w);
        fast.loss_and_grad(&[0.3, 0.5, -0.2, 0.9], &[1.0, -1.0], 2);
        let g = fast.grads().to_vec();
        fast.adam_step(0.01, AdamSettings::default());
        for ((new, old), g) in fast.weights().flatten().iter().zip(w.flatten()).zip(g) {
            if g.abs() > 1e-6 {
                assert!(
                    (old - new - 0.01 * g.signum()).abs() < 1e-5,
                    "{old} -> {new} (g {g})"
                );
            }
        }
    }
}
