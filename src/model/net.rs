//! Score networks of every architecture (SPEC §2) behind the engine's ε-prediction interface.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::mlp::{Mlp, MlpConfig, MlpWeights};
use crate::diffusion::model::{EpsilonModel, Times};
use crate::diffusion::{NoiseProcess, Objective};

/// How the ε-network is built and trained.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// One MLP on `[x, t]`, trained on all of `[t_min, 1]`.
    #[default]
    Mlp,
    /// `ε = c_skip(t) x + c_out(t) F(x, t)` with `c_skip`, `c_out` learned MLPs of `t`.
    Skip,
    /// The same with the fixed coefficients of Gaussian data of std `s`.
    SkipFixed,
    /// One MLP for `t < t_split` and one for `t ≥ t_split`, each trained on its own band.
    TwoModel,
    /// One MLP trained only on `[t_split, 1]` (the paper's high-noise-only control).
    HighNoiseOnly,
}

impl Architecture {
    /// Every architecture, in declaration order.
    pub fn all() -> &'static [Self] {
        <Self as clap::ValueEnum>::value_variants()
    }

    /// CLI name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mlp => "mlp",
            Self::Skip => "skip",
            Self::SkipFixed => "skip-fixed",
            Self::TwoModel => "two-model",
            Self::HighNoiseOnly => "high-noise-only",
        }
    }
}

/// Everything needed to rebuild a score network (stored in checkpoint sidecars).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Architecture.
    pub arch: Architecture,
    /// The (main) MLP's shape.
    pub mlp: MlpConfig,
    /// The noise process the model is trained for.
    pub process: NoiseProcess,
    /// Split time of the two-model and high-noise-only architectures.
    pub t_split: f64,
    /// Data std `s` (mean over dims) for the fixed skip coefficients and EDM's `s_d`.
    pub data_std: f64,
    /// What the network outputs (sidecars from before objectives existed are ε-prediction).
    #[serde(default)]
    pub objective: Objective,
}

/// Hidden width and depth of the learned skip coefficient nets (SPEC §2).
pub const SKIP_COEFF_WIDTH: usize = 30;
/// Hidden layers of the learned skip coefficient nets.
pub const SKIP_COEFF_DEPTH: usize = 2;

impl NetSpec {
    /// The MLPs this architecture holds, in storage order (main first).
    pub fn part_configs(&self) -> Vec<(&'static str, MlpConfig)> {
        let coeff = MlpConfig::scalar_of_t(SKIP_COEFF_WIDTH, SKIP_COEFF_DEPTH);
        match self.arch {
            Architecture::Mlp | Architecture::HighNoiseOnly | Architecture::SkipFixed => {
                vec![("main", self.mlp.clone())]
            }
            Architecture::Skip => {
                vec![
                    ("main", self.mlp.clone()),
                    ("c_skip", coeff.clone()),
                    ("c_out", coeff),
                ]
            }
            Architecture::TwoModel => vec![("low", self.mlp.clone()), ("high", self.mlp.clone())],
        }
    }

    /// Parameters of every part together.
    pub fn num_params(&self) -> usize {
        self.part_configs()
            .iter()
            .map(|(_, c)| c.num_params())
            .sum()
    }

    /// Fresh PyTorch-default weights for every part, from `seed`.
    pub fn init_weights(&self, seed: u64) -> Vec<MlpWeights> {
        self.part_configs()
            .iter()
            .enumerate()
            .map(|(i, (_, c))| MlpWeights::init(c, seed.wrapping_add(i as u64 * 0x1000_0001)))
            .collect()
    }

    /// Whether this network can be trained and used: its objective on its process, and with
    /// its architecture (the skip connections are written for ε; EDM brings its own).
    pub fn check(&self) -> Result<(), String> {
        self.objective
            .check(&self.process, self.data_std)
            .map_err(|e| e.to_string())?;
        let carries = |o: Objective| match self.arch {
            Architecture::SkipFixed => o == Objective::Epsilon,
            Architecture::Skip => o.plain_input(),
            Architecture::Mlp | Architecture::TwoModel | Architecture::HighNoiseOnly => true,
        };
        if carries(self.objective) {
            Ok(())
        } else {
            let valid: Vec<&str> = Objective::all()
                .iter()
                .filter(|&&o| carries(o) && o.check(&self.process, self.data_std).is_ok())
                .map(|o| o.name())
                .collect();
            Err(format!(
                "objective = {} cannot be used with arch = {} (valid objectives for it: {})",
                self.objective,
                self.arch.name(),
                valid.join(", ")
            ))
        }
    }

    /// Fixed skip coefficients `(c_skip, c_out)` at time `t`.
    pub fn fixed_skip(&self, t: f64) -> (f64, f64) {
        let (a, s, sd) = (self.process.alpha(t), self.process.sigma(t), self.data_std);
        let v = a * a * sd * sd + s * s;
        (s / v, a * sd / v.sqrt())
    }
}

/// A score network ready for inference on a device.
#[derive(Debug)]
pub struct ScoreNet {
    spec: NetSpec,
    parts: Vec<Mlp>,
}

impl ScoreNet {
    /// Builds the burn modules of `weights` (one per part, in [`NetSpec::part_configs`] order).
    pub fn new(spec: NetSpec, weights: &[MlpWeights], device: &Device) -> Self {
        assert_eq!(
            weights.len(),
            spec.part_configs().len(),
            "ScoreNet::new: parts"
        );
        let parts = weights
            .iter()
            .map(|w| Mlp::from_weights(w, device))
            .collect();
        Self { spec, parts }
    }

    /// The spec.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// The burn modules (main first).
    pub fn parts(&self) -> &[Mlp] {
        &self.parts
    }

    /// ε̂ on a batch, for modules `parts` (shared by inference and the autodiff training
    /// path): the network's output converted by its objective.
    ///
    /// # Shapes
    /// `x`: `[n, d]` → `[n, d]`
    pub fn epsilon_with(spec: &NetSpec, parts: &[Mlp], x: Tensor<2>, t: &Times) -> Tensor<2> {
        let o = Self::output_with(spec, parts, x.clone(), t);
        let obj = spec.objective;
        if obj == Objective::Epsilon {
            return o;
        }
        let device = x.device();
        let c = |t: f64| obj.coefficients(&spec.process, spec.data_std, t);
        let cx = t.coefficient(&device, |t| c(t).eps_from_x).mul(x);
        cx.add(t.coefficient(&device, |t| c(t).eps_from_output).mul(o))
    }

    /// The network's own output `o_θ` (what its objective trains) on a batch at noised points
    /// `x`: the objective's input preconditioning is applied here.
    ///
    /// # Shapes
    /// `x`: `[n, d]` → `[n, d]`
    pub fn output_with(spec: &NetSpec, parts: &[Mlp], x: Tensor<2>, t: &Times) -> Tensor<2> {
        let device = x.device();
        let [n, _] = x.dims();
        let obj = spec.objective;
        let (x, tc) = if obj.plain_input() {
            (x, t.column(n, &device))
        } else {
            let c = |t: f64| obj.coefficients(&spec.process, spec.data_std, t);
            let x = t.coefficient(&device, |t| c(t).input_scale).mul(x);
            (x, t.map(|t| c(t).time_feature).column(n, &device))
        };
        match spec.arch {
            Architecture::Mlp | Architecture::HighNoiseOnly => parts[0].forward(Some(x), tc),
            Architecture::SkipFixed => {
                let f = parts[0].forward(Some(x.clone()), tc);
                let skip = t.coefficient(&device, |t| spec.fixed_skip(t).0).mul(x);
                skip.add(t.coefficient(&device, |t| spec.fixed_skip(t).1).mul(f))
            }
            Architecture::Skip => {
                let f = parts[0].forward(Some(x.clone()), tc.clone());
                let c_skip = parts[1].forward(None, tc.clone()); // [n, 1]
                let c_out = parts[2].forward(None, tc); // [n, 1]
                x.mul(c_skip).add(f.mul(c_out))
            }
            Architecture::TwoModel => match t {
                Times::Shared(t) => {
                    let k = usize::from(*t >= spec.t_split);
                    parts[k].forward(Some(x), tc)
                }
                Times::PerRow(ts) => {
                    let low = parts[0].forward(Some(x.clone()), tc.clone());
                    let high = parts[1].forward(Some(x), tc);
                    let mask = Times::PerRow(ts.clone())
                        .coefficient(&device, |t| if t >= spec.t_split { 1.0 } else { 0.0 });
                    let inv = Times::PerRow(ts.clone())
                        .coefficient(&device, |t| if t >= spec.t_split { 0.0 } else { 1.0 });
                    mask.mul(high).add(inv.mul(low))
                }
            },
        }
    }
}

impl EpsilonModel for ScoreNet {
    fn dim(&self) -> usize {
        self.spec.mlp.dim
    }

    fn process(&self) -> NoiseProcess {
        self.spec.process
    }

    fn epsilon(&self, x: Tensor<2>, t: &Times) -> Tensor<2> {
        Self::epsilon_with(&self.spec, &self.parts, x, t)
    }
}
