//! Checkpoints: `model.safetensors` (every part's weights, through burn-store) plus a JSON
//! sidecar `model.json` that says how to rebuild and use the model.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{ApplyError, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::mlp::{Mlp, MlpWeights};
use super::net::NetSpec;

/// Sidecar format version.
pub const FORMAT_VERSION: u32 = 1;

/// Where the training data came from, so a checkpoint can name its training set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum DataSource {
    /// A synthetic dataset drawn from a seed.
    Synthetic {
        /// The dataset.
        dataset: crate::data::DatasetSpec,
        /// Number of points.
        n: usize,
        /// Seed it was drawn with.
        seed: u64,
    },
    /// A user's file.
    File {
        /// Its path when trained.
        path: PathBuf,
    },
    /// A picture traced into `n` points, drawn from a seed (`data::picture::trace`).
    Picture {
        /// Its path when trained.
        path: PathBuf,
        /// Number of points.
        n: usize,
        /// Seed they were drawn with.
        seed: u64,
    },
}

impl DataSource {
    /// A user's file: a picture (PNG/JPEG, traced into `n` points from `seed`) or a point file.
    pub fn user_file(path: PathBuf, n: usize, seed: u64) -> Self {
        if crate::data::picture::is_picture(&path) {
            Self::Picture { path, n, seed }
        } else {
            Self::File { path }
        }
    }

    /// The user's file this data came from, if any.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            Self::File { path } | Self::Picture { path, .. } => Some(path),
            Self::Synthetic { .. } => None,
        }
    }
}

/// Everything in `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Sidecar format version.
    pub format_version: u32,
    /// Architecture, process and shapes.
    pub net: NetSpec,
    /// Training data.
    pub data: DataSource,
    /// Training iterations done.
    pub iteration: u64,
    /// Seed of the run.
    pub seed: u64,
    /// Last training loss (mean over the last iterations).
    pub loss: Option<f64>,
    /// Free-form training settings (lr, batch, …) for the record.
    pub training: serde_json::Value,
    /// The loss curve, thinned to at most a few thousand points (absent in older sidecars).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub losses: Vec<LossPoint>,
}

/// One point of a loss curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    /// Iteration.
    pub iteration: u64,
    /// Mean training loss since the previous point.
    pub loss: f64,
}

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Sidecar is not valid JSON for this format.
    #[error("{path}: not a Collapse Explorer model sidecar: {message}")]
    Sidecar {
        /// File.
        path: PathBuf,
        /// Cause.
        message: String,
    },
    /// Weights could not be written, or hold non-finite values.
    #[error("{path}: {message}")]
    Weights {
        /// File.
        path: PathBuf,
        /// Cause.
        message: String,
    },
    /// The weights file is corrupt or does not match the sidecar's architecture.
    #[error("{path}: {reason}")]
    StrictLoad {
        /// File.
        path: PathBuf,
        /// Cause, naming the first bad tensor (not a `source`: the message already holds it).
        reason: StrictLoadError,
    },
}

/// Why a safetensors file does not load strictly into the module built from its sidecar
/// ([`load_safetensors_strict`]); `what` names the sidecar field the module was built from.
#[derive(Debug, thiserror::Error)]
pub enum StrictLoadError {
    /// The file cannot be read or parsed as safetensors.
    #[error("corrupt or unreadable: {reason}")]
    Unreadable {
        /// What went wrong.
        reason: String,
    },
    /// A tensor has the wrong shape or type.
    #[error("does not match the sidecar's {what}: {error:?}")]
    Mismatch {
        /// The sidecar field.
        what: &'static str,
        /// The first bad tensor (boxed: burn's error holds two shapes).
        error: Box<ApplyError>,
    },
    /// A tensor the module needs is not in the file.
    #[error("missing tensor '{name}' ({why}) for the sidecar's {what}")]
    Missing {
        /// The sidecar field.
        what: &'static str,
        /// The tensor's path in the module.
        name: String,
        /// Its container stack.
        why: String,
    },
    /// The file has a tensor the module does not use.
    #[error("unexpected tensor '{name}' for the sidecar's {what}")]
    Unexpected {
        /// The sidecar field.
        what: &'static str,
        /// The tensor's name in the file.
        name: String,
    },
}

/// All parts of a network as one burn module (keys `parts.N.layers.M.weight|bias`).
#[derive(Module, Debug)]
struct NetModule {
    parts: Vec<Mlp>,
}

/// A loaded checkpoint: sidecar and host weights of every part.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The sidecar.
    pub meta: CheckpointMeta,
    /// Weights of each part, in [`NetSpec::part_configs`] order.
    pub weights: Vec<MlpWeights>,
}

/// `dir/model.json` and `dir/model.safetensors`; a path to either file names its directory.
pub fn checkpoint_paths(path: &Path) -> (PathBuf, PathBuf) {
    let dir = if path.is_dir() || path.extension().is_none() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    (dir.join("model.json"), dir.join("model.safetensors"))
}

impl Checkpoint {
    /// Writes the checkpoint into directory `dir` (created if needed), atomically per file.
    pub fn save(&self, dir: &Path) -> Result<(), CheckpointError> {
        fn io(path: &Path) -> impl Fn(std::io::Error) -> CheckpointError + '_ {
            move |source| CheckpointError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let (json, st) = checkpoint_paths(dir);
        let device = Device::flex();
        let module = NetModule {
            parts: self
                .weights
                .iter()
                .map(|w| Mlp::from_weights(w, &device))
                .collect(),
        };
        let tmp = st.with_extension("safetensors.tmp");
        let mut store = SafetensorsStore::from_file(&tmp).metadata("format", "collapse-explorer");
        module
            .save_into(&mut store)
            .map_err(|e| CheckpointError::Weights {
                path: st.clone(),
                message: e.to_string(),
            })?;
        std::fs::rename(&tmp, &st).map_err(io(&st))?;
        let text = serde_json::to_string_pretty(&self.meta).expect("sidecar serialises");
        let tmp = json.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &json).map_err(io(&json))
    }

    /// Reads a checkpoint directory (or either of its files).
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let (json, st) = checkpoint_paths(path);
        let text = std::fs::read_to_string(&json).map_err(|source| CheckpointError::Io {
            path: json.clone(),
            source,
        })?;
        let sidecar_error = |message: String| CheckpointError::Sidecar {
            path: json.clone(),
            message,
        };
        // An objective this build does not know is named with the valid ones (serde's own
        // message would not say which field it is).
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(o) = value.pointer("/net/objective")
            && serde_json::from_value::<crate::diffusion::Objective>(o.clone()).is_err()
        {
            let valid: Vec<&str> = crate::diffusion::Objective::all()
                .iter()
                .map(|o| o.name())
                .collect();
            return Err(sidecar_error(format!(
                "net.objective = {o} is not an objective this build knows (valid: {})",
                valid.join(", ")
            )));
        }
        let meta: CheckpointMeta =
            serde_json::from_str(&text).map_err(|e| sidecar_error(e.to_string()))?;
        if meta.format_version != FORMAT_VERSION {
            return Err(CheckpointError::Sidecar {
                path: json,
                message: format!(
                    "format version {} (this build reads {FORMAT_VERSION})",
                    meta.format_version
                ),
            });
        }
        if !st.exists() {
            return Err(CheckpointError::Io {
                path: st,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "weights file missing"),
            });
        }
        // The sidecar's sizes come from a file: check them before anything is allocated. The
        // weights file holds at least 4 bytes per f32 parameter.
        let sidecar = |message: String| CheckpointError::Sidecar {
            path: json.clone(),
            message,
        };
        // An objective on a process or architecture that cannot carry it.
        meta.net.check().map_err(sidecar)?;
        let parts = meta.net.part_configs();
        if let Some((name, c)) = parts
            .iter()
            .find(|(_, c)| c.width == 0 || c.depth == 0 || (c.dim == 0 && c.out_dim.is_none()))
        {
            return Err(sidecar(format!(
                "network part '{name}' has d = {}, width {}, depth {}: all must be positive",
                c.dim, c.width, c.depth
            )));
        }
        let params = parts
            .iter()
            .fold(0u128, |a, (_, c)| a.saturating_add(c.num_params_wide()));
        let have = std::fs::metadata(&st).map_or(0, |m| m.len()) as u128;
        if params.saturating_mul(4) > have {
            return Err(sidecar(format!(
                "the architecture needs {params} parameters ({} of f32), more than the {have} \
                 bytes of {}",
                crate::limits::human_bytes(params * 4),
                st.display()
            )));
        }
        let device = Device::flex();
        let configs = meta.net.part_configs();
        let fresh = meta.net.init_weights(0);
        let mut module = NetModule {
            parts: fresh
                .iter()
                .map(|w| Mlp::from_weights(w, &device))
                .collect(),
        };
        load_safetensors_strict(&mut module, &st, "architecture").map_err(|reason| {
            CheckpointError::StrictLoad {
                path: st.clone(),
                reason,
            }
        })?;
        let weights: Vec<MlpWeights> = module
            .parts
            .iter()
            .zip(&configs)
            .map(|(m, (_, c))| m.to_weights(c))
            .collect();
        if weights.iter().any(|w| !w.all_finite()) {
            return Err(CheckpointError::Weights {
                path: st,
                message: "contains NaN or infinite weights".into(),
            });
        }
        Ok(Self { meta, weights })
    }
}

/// Loads `path` into `module`, requiring every tensor to be present with its shape and no
/// tensor to be left over; the error names the first that is not (`what` names the sidecar
/// field the module was built from, e.g. "architecture").
pub(crate) fn load_safetensors_strict<M: ModuleSnapshot>(
    module: &mut M,
    path: &Path,
    what: &'static str,
) -> Result<(), StrictLoadError> {
    let unreadable = |reason: String| StrictLoadError::Unreadable { reason };
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    // The header is parsed once here. (burn-store's own safetensors store parses it again for
    // every tensor it hands over, which made loading quadratic in the number of tensors: a
    // 300-tensor U-Net spent most of its load re-reading its header.)
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| unreadable(format!("not a readable safetensors file: {e}")))?;
    let mut tensors = Vec::with_capacity(file.len());
    for (name, view) in file.iter() {
        let dtype = burn_dtype(view.dtype())
            .ok_or_else(|| unreadable(format!("tensor '{name}' has type {:?}", view.dtype())))?;
        tensors.push(burn::store::burn_pack::Tensor::new(
            name.to_string(),
            dtype,
            view.shape().to_vec(),
            None,
            burn::tensor::Bytes::from_bytes_vec(view.data().to_vec()),
        ));
    }
    let result = module.apply(tensors, None, None, false);
    if let Some(e) = result.errors.first() {
        return Err(StrictLoadError::Mismatch {
            what,
            error: Box::new(e.clone()),
        });
    }
    if let Some((name, why)) = result.missing.first() {
        return Err(StrictLoadError::Missing {
            what,
            name: name.clone(),
            why: why.clone(),
        });
    }
    if let Some(name) = result.unused.first() {
        return Err(StrictLoadError::Unexpected {
            what,
            name: name.clone(),
        });
    }
    Ok(())
}

/// burn's element type for a safetensors one (the types burn-store reads).
fn burn_dtype(dtype: safetensors::Dtype) -> Option<burn::tensor::DType> {
    use burn::tensor::DType;
    use safetensors::Dtype;
    Some(match dtype {
        Dtype::F64 => DType::F64,
        Dtype::F32 => DType::F32,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::I64 => DType::I64,
        Dtype::I32 => DType::I32,
        Dtype::I16 => DType::I16,
        Dtype::I8 => DType::I8,
        Dtype::U64 => DType::U64,
        Dtype::U32 => DType::U32,
        Dtype::U8 => DType::U8,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::{NoiseProcess, Objective};
    use crate::model::{Activation, Architecture, MlpConfig};

    fn checkpoint(objective: Objective) -> Checkpoint {
        let net = NetSpec {
            arch: Architecture::Mlp,
            mlp: MlpConfig::new(2, 8, 2, Activation::Tanh),
            process: NoiseProcess::Linear,
            t_split: 0.5,
            data_std: 0.8,
            objective,
        };
        Checkpoint {
            weights: net.init_weights(1),
            meta: CheckpointMeta {
                format_version: FORMAT_VERSION,
                net,
                data: DataSource::Synthetic {
                    dataset: crate::data::DatasetSpec::Chessboard,
                    n: 100,
                    seed: 0,
                },
                iteration: 5,
                seed: 0,
                loss: Some(1.0),
                training: serde_json::json!({ "lr": 5e-3 }),
                losses: Vec::new(),
            },
        }
    }

    /// Every objective round-trips through the sidecar; a format-1 sidecar written before
    /// objectives existed (no `net.objective`) loads as ε-prediction.
    #[test]
    fn objectives_round_trip_and_old_sidecars_load_as_epsilon() {
        let dir = tempfile::tempdir().unwrap();
        for &o in Objective::all() {
            let path = dir.path().join(o.name());
            checkpoint(o).save(&path).unwrap();
            let back = Checkpoint::load(&path).unwrap();
            assert_eq!(back.meta.net.objective, o);
            assert_eq!(back.weights, checkpoint(o).weights);
        }
        // Format version 1 as written before objectives: the same sidecar without the field.
        let path = dir.path().join("flow");
        let json = path.join("model.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        v["net"].as_object_mut().unwrap().remove("objective");
        assert_eq!(v["format_version"], 1);
        std::fs::write(&json, v.to_string()).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.meta.net.objective, Objective::Epsilon);
    }

    /// An unknown objective, or one its architecture cannot carry, is refused with the field
    /// and the valid values named; nothing is loaded.
    #[test]
    fn a_sidecar_with_a_bad_objective_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run");
        checkpoint(Objective::Flow).save(&path).unwrap();
        let json = path.join("model.json");
        let text = std::fs::read_to_string(&json).unwrap();
        std::fs::write(&json, text.replace("\"flow\"", "\"sample\"")).unwrap();
        let err = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(err.contains("net.objective = \"sample\""), "{err}");
        let names: Vec<&str> = Objective::all().iter().map(|o| o.name()).collect();
        assert!(
            err.contains(&format!("valid: {}", names.join(", "))),
            "{err}"
        );
        std::fs::write(
            &json,
            text.replace("\"arch\": \"mlp\"", "\"arch\": \"skip-fixed\""),
        )
        .unwrap();
        let err = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("objective = flow cannot be used with arch = skip-fixed"),
            "{err}"
        );
        assert!(err.contains("valid objectives for it: epsilon"), "{err}");
    }
}
