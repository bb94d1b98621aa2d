//! The ε-prediction interface (SPEC §2) that every model and the exact score implement; the
//! score and the probability-flow velocity are derived from it once, here.

use burn::tensor::{Device, Tensor, TensorData};

use super::NoiseProcess;

/// Diffusion times for a batch: one shared time (samplers) or one per row (training, diagnostics).
#[derive(Clone, Debug, PartialEq)]
pub enum Times {
    /// The same `t` for every row.
    Shared(f64),
    /// `t` of each row; its length is the batch size.
    PerRow(Vec<f64>),
}

impl Times {
    /// A per-row coefficient `c(t)`: a scalar for shared times, an `[n, 1]` column otherwise.
    pub fn coefficient(&self, device: &Device, c: impl Fn(f64) -> f64) -> Coefficient {
        match self {
            Self::Shared(t) => Coefficient::Scalar(c(*t)),
            Self::PerRow(ts) => {
                let col: Vec<f32> = ts.iter().map(|&t| c(t) as f32).collect();
                Coefficient::Column(Box::new(Tensor::from_data(
                    TensorData::new(col, [ts.len(), 1]),
                    device,
                )))
            }
        }
    }

    /// `c(t)` in place of each time (a time feature the network sees instead of `t`).
    pub fn map(&self, c: impl Fn(f64) -> f64) -> Times {
        match self {
            Self::Shared(t) => Self::Shared(c(*t)),
            Self::PerRow(ts) => Self::PerRow(ts.iter().map(|&t| c(t)).collect()),
        }
    }

    /// The times as an `[n, 1]` column (for models that take `t` as an input feature).
    pub fn column(&self, n: usize, device: &Device) -> Tensor<2> {
        match self {
            Self::Shared(t) => Tensor::full([n, 1], *t as f32, device),
            Self::PerRow(ts) => {
                assert_eq!(
                    ts.len(),
                    n,
                    "Times::PerRow has {} times for {n} rows",
                    ts.len()
                );
                let col: Vec<f32> = ts.iter().map(|&t| t as f32).collect();
                Tensor::from_data(TensorData::new(col, [n, 1]), device)
            }
        }
    }
}

/// A scalar or an `[n, 1]` column multiplying the rows of an `[n, d]` tensor.
#[derive(Clone, Debug)]
pub enum Coefficient {
    /// The same factor for every row.
    Scalar(f64),
    /// One factor per row, shape `[n, 1]` (boxed: a tensor handle is large).
    Column(Box<Tensor<2>>),
}

impl Coefficient {
    /// `c · x`, row-wise.
    pub fn mul(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Scalar(c) => x.mul_scalar(*c),
            Self::Column(c) => x.mul((**c).clone()),
        }
    }
}

/// A noise-prediction model `ε_θ(x, t)` for one noise process.
///
/// Implemented by the trained networks and by the exact mixture score; every sampler and
/// diagnostic is written against this trait only.
pub trait EpsilonModel {
    /// Data dimension `d`.
    fn dim(&self) -> usize;

    /// The noise process the model was trained for.
    fn process(&self) -> NoiseProcess;

    /// Predicted noise `ε_θ(x, t)`.
    ///
    /// # Shapes
    /// - `x`: `[n, d]`
    /// - output: `[n, d]`
    fn epsilon(&self, x: Tensor<2>, t: &Times) -> Tensor<2>;

    /// Score `s_θ = −ε_θ / σ(t)`.
    ///
    /// # Shapes
    /// `x`: `[n, d]` → `[n, d]`
    fn score(&self, x: Tensor<2>, t: &Times) -> Tensor<2> {
        let p = self.process();
        let device = x.device();
        let eps = self.epsilon(x, t);
        t.coefficient(&device, |t| -1.0 / p.sigma(t)).mul(eps)
    }

    /// Probability-flow velocity `v_θ = f(t)·x − ½ g²(t)·s_θ = f x + ½ g²/σ · ε_θ` (= dx/dt).
    ///
    /// # Shapes
    /// `x`: `[n, d]` → `[n, d]`
    fn velocity(&self, x: Tensor<2>, t: &Times) -> Tensor<2> {
        let p = self.process();
        let device = x.device();
        let eps = self.epsilon(x.clone(), t);
        velocity_from_epsilon(&p, x, eps, t, &device)
    }

    /// Every step of `steps` on host rows `x` (`[n, d]` row-major) in place, where this model
    /// has a path that keeps the state on the host and runs blocks of rows through all the
    /// steps independently (the fused CPU path): per step, `ε = ε_θ(x, t)` and
    /// [`HostStep::apply`] on every element. `noise()` is called once per step that adds noise,
    /// in step order (possibly on another thread, ahead of the steps), and returns that step's
    /// `[n, d]` draw. It calls `progress(done, steps)`
    /// as groups of steps finish. `None`: no such path (the sampler steps through tensors).
    /// `Some(Err(i))`: some row first stopped being finite at step `i` (0-based); `x` is then
    /// not meaningful. With `record = Some((path, m))`, the first `m` rows' states after each
    /// step are appended to `path` (`[steps, m, d]`).
    fn steps_host(
        &self,
        x: &mut [f32],
        steps: &[HostStep],
        noise: &mut (dyn FnMut() -> Vec<f32> + Send),
        record: Option<(&mut Vec<f32>, usize)>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Option<Result<(), usize>> {
        let _ = (x, steps, noise, record, progress);
        None
    }
}

/// One step of a sampler whose update is elementwise in `x`, `ε = ε_θ(x, t)` (and, for Heun and
/// DPM-Solver-2, a second `ε` at a point so computed) and a noise draw `z`, with its
/// coefficients rounded to `f32` as burn's scalar operations round them, so that the host
/// path gives the tensor path's numbers bit for bit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HostStep {
    /// The time `ε` is evaluated at.
    pub t: f64,
    /// The update from `x` and `ε`.
    pub update: HostUpdate,
    /// The std `s` of the step's noise (`+ z·s`), where it draws one.
    pub noise_std: Option<f32>,
}

/// The deterministic part of a [`HostStep`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HostUpdate {
    /// `x − (x·f + ε·c)·Δ`: an Euler step along `f x + c ε` (the ODE: `c = ½ g²/σ`; the SDE's
    /// drift: `c = ½ (1 + γ²) g²/σ`).
    Euler {
        /// `f(t)`.
        f: f32,
        /// The factor on `ε`.
        c: f32,
        /// The step `Δ = t − t'`.
        delta: f32,
    },
    /// `x·a + ε·b` (DDIM's step).
    Affine {
        /// The factor on `x`.
        a: f32,
        /// The factor on `ε`.
        b: f32,
    },
    /// Heun's step, two evaluations: `v₁ = x·f + ε·c`, `x̃ = x − v₁·Δ`,
    /// `v₂ = x̃·f₂ + ε(x̃, t₂)·c₂`, then `x − (v₁ + v₂)·h` (`h = Δ/2`).
    Heun {
        /// `f(t)`.
        f: f32,
        /// `½ g²/σ` at `t`.
        c: f32,
        /// The step `Δ`.
        delta: f32,
        /// The second evaluation's time `t'`.
        t2: f64,
        /// `f(t')`.
        f2: f32,
        /// `½ g²/σ` at `t'`.
        c2: f32,
        /// `Δ/2`.
        half: f32,
    },
    /// DPM-Solver-2's step, two evaluations: `u = x·a_u − ε·b_u`, then `x·a − ε(u, t_mid)·b`.
    Dpm2 {
        /// The factor on `x` of the midpoint.
        a_u: f32,
        /// The factor on `ε` of the midpoint.
        b_u: f32,
        /// The midpoint's time.
        t_mid: f64,
        /// The factor on `x`.
        a: f32,
        /// The factor on the midpoint's `ε`.
        b: f32,
    },
}

impl HostUpdate {
    /// The second evaluation's time, for the two-evaluation steps.
    fn second_time(&self) -> Option<f64> {
        match *self {
            Self::Heun { t2, .. } => Some(t2),
            Self::Dpm2 { t_mid, .. } => Some(t_mid),
            Self::Euler { .. } | Self::Affine { .. } => None,
        }
    }

    /// A two-evaluation step's first stage on one element: the point the second `ε` is
    /// evaluated at, and what the last stage carries over (Heun's `v₁`).
    #[inline(always)]
    fn first_stage(&self, x: f32, e: f32) -> (f32, f32) {
        match *self {
            Self::Heun { f, c, delta, .. } => {
                let v1 = x * f + e * c;
                (x - v1 * delta, v1)
            }
            Self::Dpm2 { a_u, b_u, .. } => (x * a_u - e * b_u, 0.0),
            Self::Euler { .. } | Self::Affine { .. } => unreachable!("one evaluation"),
        }
    }

    /// A two-evaluation step's last stage on one element, from `x`, the first stage's carry and
    /// point, and the second `ε` there.
    #[inline(always)]
    fn last_stage(&self, x: f32, carry: f32, point: f32, e2: f32) -> f32 {
        match *self {
            Self::Heun { f2, c2, half, .. } => x - (carry + (point * f2 + e2 * c2)) * half,
            Self::Dpm2 { a, b, .. } => x * a - e2 * b,
            Self::Euler { .. } | Self::Affine { .. } => unreachable!("one evaluation"),
        }
    }
}

impl HostStep {
    /// The step on host rows `x` in place (`[m, d]`): `ε = eps(x, t)` (and, for the
    /// two-evaluation steps, a second `eps` at the first stage's points), then the update
    /// element by element in the tensor path's order of operations, adding `z·s` where the step
    /// draws noise (`z`: its draw for these rows). Whether every new value is finite.
    pub fn advance(
        &self,
        x: &mut [f32],
        z: Option<&[f32]>,
        eps: impl Fn(&[f32], f64) -> Vec<f32>,
    ) -> bool {
        let e = eps(x, self.t);
        let u = &self.update;
        if let Some(t2) = u.second_time() {
            debug_assert!(
                self.noise_std.is_none(),
                "two-evaluation steps draw no noise"
            );
            let (points, carry): (Vec<f32>, Vec<f32>) =
                x.iter().zip(&e).map(|(&x, &e)| u.first_stage(x, e)).unzip();
            let e2 = eps(&points, t2);
            let stage = x.iter_mut().zip(carry.iter().zip(&points).zip(&e2));
            for (x, ((&carry, &point), &e2)) in stage {
                *x = u.last_stage(*x, carry, point, e2);
            }
        } else if let Some(z) = z {
            for ((x, &e), &z) in x.iter_mut().zip(&e).zip(z) {
                *x = self.apply(*x, e, z);
            }
        } else {
            for (x, &e) in x.iter_mut().zip(&e) {
                *x = self.apply(*x, e, 0.0);
            }
        }
        x.iter().all(|v| v.is_finite())
    }

    /// The new value of one element from its value `x`, its `ε` and its noise draw `z` (read
    /// only where the step draws noise), for the one-evaluation steps.
    #[inline(always)]
    fn apply(&self, x: f32, e: f32, z: f32) -> f32 {
        let y = match self.update {
            HostUpdate::Euler { f, c, delta } => x - (x * f + e * c) * delta,
            HostUpdate::Affine { a, b } => x * a + e * b,
            HostUpdate::Heun { .. } | HostUpdate::Dpm2 { .. } => unreachable!("two evaluations"),
        };
        match self.noise_std {
            Some(s) => y + z * s,
            None => y,
        }
    }
}

/// `v = f x + ½ g²/σ · ε` for an already computed `ε` (used by samplers that also need `ε`).
pub fn velocity_from_epsilon(
    p: &NoiseProcess,
    x: Tensor<2>,
    eps: Tensor<2>,
    t: &Times,
    device: &Device,
) -> Tensor<2> {
    let fx = t.coefficient(device, |t| p.drift(t)).mul(x);
    let ge = t
        .coefficient(device, |t| p.velocity_epsilon_factor(t))
        .mul(eps);
    fx.add(ge)
}

/// Uploads host points as an `[n, d]` tensor.
pub fn to_tensor(data: &[f32], n: usize, d: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data.to_vec(), [n, d]), device)
}

/// Reads an `[n, d]` tensor back to the host as row-major `f32`.
pub fn to_host(x: Tensor<2>) -> Vec<f32> {
    x.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor data")
}
