//! One description of a 2D run (issue #23): its data, model, training, sampling and
//! evaluation, each a part with its defaults written once, here.
//!
//! `train` flattens the data, model and training parts into its flags (clap), sweep files and
//! a sweep's `result.json` read and write the whole [`RunSpec`] (serde, unknown fields refused
//! at every level), and a checkpoint's sidecar records the training part. A sweep file may name
//! a field by its own name (`width = 1000`) or by its path (`model.width`, or a `[base.model]`
//! table): [`RunSpec::nest`] maps the short names, derived from the parts themselves, so a
//! field added to a part is known by its name everywhere at once.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::data::{DatasetError, DatasetKind, DatasetSpec};
use crate::diffusion::{Objective, ProcessKind, SamplerKind, TimeGrid, TimeSampling};
use crate::model::{Activation, Architecture, MlpConfig, NetSpec};

use super::recipe::{Preset, data_std, paper_size};
use crate::data::Points;

/// The synthetic training set of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct DataPart {
    /// The dataset (`datasets` lists them).
    #[arg(long, value_enum, default_value_t = DataPart::default().dataset)]
    pub dataset: DatasetKind,
    /// Dimension of `mog` (default 10).
    #[arg(long)]
    pub dim: Option<usize>,
    /// Size of the training set (default: the paper's, 500,000 in 2D and 50,000 for the
    /// mixtures `mog` and `mog1d`).
    #[arg(long = "n", visible_alias = "n-data", value_parser = crate::limits::positive)]
    pub n_data: Option<usize>,
}

impl Default for DataPart {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::Chessboard,
            dim: None,
            n_data: None,
        }
    }
}

impl DataPart {
    /// The dataset with its dimension.
    pub fn spec(&self) -> Result<DatasetSpec, DatasetError> {
        self.dataset.spec(self.dim)
    }

    /// The number of training points: as given, or the paper's for this dataset.
    pub fn points(&self) -> Result<usize, DatasetError> {
        Ok(self.n_data.unwrap_or(paper_size(&self.spec()?)))
    }
}

/// Which score model to train: a size preset (by default the paper's for the data's
/// dimension) with optional overrides, its process and its objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct ModelChoice {
    /// Architecture.
    #[arg(long, value_enum, default_value_t = ModelChoice::default().arch)]
    pub arch: Architecture,
    /// Size preset: 2d (3 x 100) or mog (2 x 1000); default 2d, mog for data of d > 2.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Hidden width (overrides the preset).
    #[arg(long, value_parser = crate::limits::positive)]
    pub width: Option<usize>,
    /// Hidden layers (overrides the preset).
    #[arg(long, value_parser = crate::limits::positive)]
    pub depth: Option<usize>,
    /// Hidden activation.
    #[arg(long, value_enum, default_value_t = ModelChoice::default().activation)]
    pub activation: Activation,
    /// Split time of the two-model and high-noise-only architectures.
    #[arg(long, default_value_t = ModelChoice::default().t_split)]
    pub t_split: f64,
    /// Noise process.
    #[arg(long, value_enum, default_value_t = ModelChoice::default().process)]
    pub process: ProcessKind,
    /// What the network outputs (the paper's: epsilon; flow with --process linear is flow
    /// matching).
    #[arg(long, value_enum, default_value_t = ModelChoice::default().objective)]
    pub objective: Objective,
}

impl Default for ModelChoice {
    /// The paper's plain MLP, Tanh, VP, ε-prediction, split at 0.5.
    fn default() -> Self {
        Self {
            arch: Architecture::Mlp,
            preset: None,
            width: None,
            depth: None,
            activation: Activation::Tanh,
            t_split: 0.5,
            process: ProcessKind::Vp,
            objective: Objective::Epsilon,
        }
    }
}

impl ModelChoice {
    /// The MLP shape for data of dimension `d`.
    pub fn mlp(&self, d: usize) -> MlpConfig {
        let mut mlp = self.preset.unwrap_or(Preset::for_dim(d)).mlp(d);
        mlp.width = self.width.unwrap_or(mlp.width);
        mlp.depth = self.depth.unwrap_or(mlp.depth);
        mlp.activation = self.activation;
        mlp
    }

    /// The network for `data`.
    pub fn net_spec(&self, data: &Points) -> NetSpec {
        NetSpec {
            arch: self.arch,
            mlp: self.mlp(data.d),
            process: self.process.process(),
            t_split: self.t_split,
            data_std: data_std(data),
            objective: self.objective,
        }
    }
}

/// How a run trains (paper App. D.1, E.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingPart {
    /// Iterations.
    #[arg(long, default_value_t = TrainingPart::default().iters, value_parser = crate::limits::positive_u64)]
    pub iters: u64,
    /// Adam learning rate.
    #[arg(long, default_value_t = TrainingPart::default().lr, value_parser = crate::limits::positive_real)]
    pub lr: f64,
    /// Batch size.
    #[arg(long, default_value_t = TrainingPart::default().batch, value_parser = crate::limits::positive)]
    pub batch: usize,
    /// How training draws its times: uniform, logit-normal (SD3's) or edm (default: uniform,
    /// edm for --objective edm).
    #[arg(long, value_enum)]
    pub times: Option<TimeSampling>,
}

impl Default for TrainingPart {
    /// The paper's: 10,000 iterations of batch 2,000 at lr 5e-3, uniform times.
    fn default() -> Self {
        Self {
            iters: 10_000,
            lr: 5e-3,
            batch: 2000,
            times: None,
        }
    }
}

/// How a run samples after training: every sampler from the same noise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingPart {
    /// Samplers compared from shared noise.
    pub samplers: Vec<SamplerKind>,
    /// Steps for every sampler (default: each sampler's own default).
    pub steps: Option<usize>,
    /// An equal budget instead of `steps`: every sampler gets this many network evaluations.
    pub nfe: Option<usize>,
    /// DDIM's stochasticity η in [0, 1] (0: deterministic DDIM; 1: DDPM-like ancestral).
    pub eta: f64,
    /// Samples per sampler.
    pub n_samples: usize,
    /// The samplers' time grid (SPEC §3 "Time grids").
    pub grid: TimeGrid,
    /// The SDE's noise dial γ ≥ 0 (0: the ODE; 1: the reverse SDE).
    pub noise_scale: f64,
}

impl Default for SamplingPart {
    fn default() -> Self {
        Self {
            samplers: vec![SamplerKind::OdeEuler, SamplerKind::Sde],
            steps: None,
            nfe: None,
            eta: 0.0,
            n_samples: 2000,
            grid: TimeGrid::UniformT,
            noise_scale: 1.0,
        }
    }
}

/// What a run measures after sampling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationPart {
    /// Points of each set in every TID subset (paper: 2,000; equal for both sets).
    pub tid_points: usize,
    /// TID repeats with fresh subsets (reported as their mean; issue #14's protocol).
    pub tid_repeats: usize,
    /// TID radii.
    pub eps: Vec<f64>,
    /// TID radii as multiples of the training set's median nearest-neighbour distance among
    /// `tid_points` points (replaces `eps` when given; columns are then `tid_<s>_nn<k>`).
    pub eps_nn: Vec<f64>,
    /// Draws for the regime losses and velocity MAE.
    pub metric_draws: usize,
    /// Hill k (replaces `k_fraction` when given).
    pub k: Option<usize>,
    /// Hill k as a fraction of the subset size.
    pub k_fraction: f64,
}

impl EvaluationPart {
    /// The Hill k asked for.
    pub fn hill_k(&self) -> crate::metrics::HillK {
        match self.k {
            Some(k) => crate::metrics::HillK::Count(k),
            None => crate::metrics::HillK::Fraction(self.k_fraction),
        }
    }
}

impl Default for EvaluationPart {
    fn default() -> Self {
        Self {
            tid_points: 2000,
            tid_repeats: 5,
            eps: vec![0.02, 0.05, 0.1, 0.2],
            eps_nn: Vec::new(),
            metric_draws: 20_000,
            k: None,
            k_fraction: 0.1,
        }
    }
}

/// Everything one run does: the data, the model, training, sampling and what is measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSpec {
    /// The training set.
    pub data: DataPart,
    /// The model.
    pub model: ModelChoice,
    /// Training.
    pub training: TrainingPart,
    /// Sampling.
    pub sampling: SamplingPart,
    /// Evaluation.
    pub evaluation: EvaluationPart,
    /// Seed of data, initialisation, training and sampling.
    pub seed: u64,
}

impl RunSpec {
    /// The part of the description that decides the trained model (data, network, training,
    /// seed), as text: runs that differ only in how they sample and measure train the same
    /// weights, and a sweep trains them once.
    pub fn training_key(&self) -> String {
        serde_json::to_string(&(&self.data, &self.model, &self.training, self.seed))
            .expect("a run description serialises")
    }

    /// The path of every field by its own name (`width` → `["model", "width"]`, `seed` →
    /// `["seed"]`), derived from the parts as they serialise.
    pub fn field_paths() -> Vec<(String, Vec<String>)> {
        let Value::Object(top) = serde_json::to_value(Self::default()).expect("serialises") else {
            unreachable!("a struct serialises to an object");
        };
        let mut out = Vec::new();
        for (part, v) in top {
            match v {
                Value::Object(fields) => out.extend(
                    fields
                        .keys()
                        .map(|f| (f.clone(), vec![part.clone(), f.clone()])),
                ),
                _ => out.push((part.clone(), vec![part])),
            }
        }
        out
    }

    /// A description as nested JSON from fields given by their own names (`width`), by paths
    /// (`model.width`) or as part tables (`model = { width = … }`), in the order given (a later
    /// field replaces an earlier one). A name that is no field is an error naming it.
    pub fn nest<'a>(
        fields: impl IntoIterator<Item = (&'a String, &'a Value)>,
    ) -> Result<Value, String> {
        let paths = Self::field_paths();
        let parts: Vec<&str> = paths
            .iter()
            .filter(|(_, p)| p.len() == 2)
            .map(|(_, p)| p[0].as_str())
            .collect();
        let mut root = Map::new();
        let mut set = |path: &[String], value: Value| {
            let mut node = &mut root;
            for step in &path[..path.len() - 1] {
                let entry = node
                    .entry(step.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                node = entry.as_object_mut().expect("just made an object");
            }
            node.insert(path[path.len() - 1].clone(), value);
        };
        for (key, value) in fields {
            if let (true, Value::Object(table)) = (parts.contains(&key.as_str()), value) {
                for (f, v) in table {
                    set(&[key.clone(), f.clone()], v.clone());
                }
            } else if key.contains('.') {
                let path: Vec<String> = key.split('.').map(str::to_string).collect();
                set(&path, value.clone());
            } else {
                match paths.iter().find(|(name, _)| name == key) {
                    Some((_, path)) => set(path, value.clone()),
                    None => {
                        let names: Vec<&str> = paths.iter().map(|(n, _)| n.as_str()).collect();
                        return Err(format!(
                            "unknown field `{key}` (fields: {})",
                            names.join(", ")
                        ));
                    }
                }
            }
        }
        Ok(Value::Object(root))
    }

    /// Reads a description written flat, as `result.json` files before the parts (format 1),
    /// or nested.
    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err("a run description is a table".into());
        };
        let nested = Self::nest(&map)?;
        serde_json::from_value(nested).map_err(|e| e.to_string())
    }
}

/// serde's reader of a [`RunSpec`] that was written flat (format 1) or nested.
pub fn deserialize_run_spec<'de, D: serde::Deserializer<'de>>(d: D) -> Result<RunSpec, D::Error> {
    let value = Value::deserialize(d)?;
    RunSpec::from_value(value).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field's own name is unique across the parts, so a short name says one field.
    #[test]
    fn short_names_are_unique() {
        let paths = RunSpec::field_paths();
        let mut names: Vec<&str> = paths.iter().map(|(n, _)| n.as_str()).collect();
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all, "{names:?}");
        assert!(
            paths
                .iter()
                .any(|(n, p)| n == "width" && p == &["model", "width"])
        );
        assert!(paths.iter().any(|(n, p)| n == "seed" && p == &["seed"]));
    }

    /// Short names, paths and part tables give the same description; an unknown name is
    /// refused with the fields listed; a flat format-1 description (as a sweep's old
    /// `result.json` holds it) reads as the nested one.
    #[test]
    fn every_spelling_nests_alike() {
        let want = RunSpec {
            model: ModelChoice {
                width: Some(64),
                objective: Objective::Flow,
                ..ModelChoice::default()
            },
            training: TrainingPart {
                iters: 20,
                ..TrainingPart::default()
            },
            seed: 3,
            ..RunSpec::default()
        };
        let flat: Map<String, Value> =
            serde_json::from_str(r#"{"width": 64, "objective": "flow", "iters": 20, "seed": 3}"#)
                .unwrap();
        let dotted: Map<String, Value> = serde_json::from_str(
            r#"{"model.width": 64, "model.objective": "flow", "training.iters": 20, "seed": 3}"#,
        )
        .unwrap();
        let tables: Map<String, Value> = serde_json::from_str(
            r#"{"model": {"width": 64, "objective": "flow"}, "training": {"iters": 20}, "seed": 3}"#,
        )
        .unwrap();
        for m in [flat, dotted, tables] {
            assert_eq!(RunSpec::from_value(Value::Object(m)).unwrap(), want);
        }
        let bad: Map<String, Value> = serde_json::from_str(r#"{"widht": 64}"#).unwrap();
        let e = RunSpec::from_value(Value::Object(bad)).unwrap_err();
        assert!(
            e.contains("unknown field `widht`") && e.contains("width"),
            "{e}"
        );
        let bad: Map<String, Value> = serde_json::from_str(r#"{"model.widht": 64}"#).unwrap();
        let e = RunSpec::from_value(Value::Object(bad)).unwrap_err();
        assert!(e.contains("widht"), "{e}");
        // Nested written, nested read.
        let text = serde_json::to_value(&want).unwrap();
        assert_eq!(RunSpec::from_value(text).unwrap(), want);
    }

    /// `train --help`'s defaults are the parts' defaults (one place).
    #[test]
    fn clap_defaults_are_the_parts_defaults() {
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            data: DataPart,
            #[command(flatten)]
            model: ModelChoice,
            #[command(flatten)]
            training: TrainingPart,
        }
        let a = <Args as clap::Parser>::try_parse_from(["x"]).unwrap();
        assert_eq!(a.data, DataPart::default());
        assert_eq!(a.model, ModelChoice::default());
        assert_eq!(a.training, TrainingPart::default());
    }
}
