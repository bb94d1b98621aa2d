//! U-Net weights on disk: import of score_sde_pytorch checkpoints (`.pth`) and the crate's own
//! safetensors + JSON sidecar form.
//!
//! A score_sde checkpoint (`run_lib.py`'s `save_checkpoint`) is a pickled dict:
//! `model` (the state dict of the `DataParallel`-wrapped DDPM, keys `module.all_modules.N.…`
//! plus the unused `module.sigmas` buffer), `ema` (`decay`, `num_updates`, and `shadow_params`,
//! a list of tensors in `model.parameters()` order), `optimizer` and `step`. It is read with
//! burn-store's PyTorch reader, which names a tensor by its path through the dicts and lists
//! (`model.module.all_modules.3.Conv_0.weight`, `ema.shadow_params.7`). Bare state dicts
//! (`torch.save(model.state_dict())`, with or without the `module.` prefix) are read too.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use burn::store::pytorch_reader::{PytorchReader, Tensor as PtTensor};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::unet::{Init, ParamSource, UNet, UNetConfig, UNetConfigError};
use crate::diffusion::NoiseProcess;

/// Which weights of a score_sde checkpoint to load.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum WeightSet {
    /// The exponential moving average (`ema.shadow_params`): what score_sde samples with.
    #[default]
    Ema,
    /// The raw training weights (`model`).
    Model,
}

/// Why U-Net weights could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum UNetError {
    /// The config cannot be built.
    #[error("invalid U-Net config: {0}")]
    Config(UNetConfigError),
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not a readable PyTorch checkpoint (corrupt, truncated, or another format).
    #[error("{path}: not a readable PyTorch checkpoint: {message}")]
    Unreadable {
        /// File.
        path: PathBuf,
        /// Cause.
        message: String,
    },
    /// A tensor the config needs is not in the file.
    #[error("{path}: missing tensor '{key}' (for {name})")]
    Missing {
        /// File.
        path: PathBuf,
        /// Key looked up in the file.
        key: String,
        /// score_sde parameter name.
        name: String,
    },
    /// The file has a weight tensor the config does not use.
    #[error("{path}: unexpected tensor '{key}': the checkpoint has more weights than this config")]
    Unexpected {
        /// File.
        path: PathBuf,
        /// Key in the file.
        key: String,
    },
    /// A tensor's shape differs from the config's.
    #[error(
        "{path}: tensor '{key}' (for {name}) has shape {found:?}, the config needs {expected:?}"
    )]
    Shape {
        /// File.
        path: PathBuf,
        /// Key in the file.
        key: String,
        /// score_sde parameter name.
        name: String,
        /// Shape the config needs (PyTorch layout).
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in an element type this reader does not convert.
    #[error("{path}: tensor '{key}' has unsupported element type {dtype}")]
    DType {
        /// File.
        path: PathBuf,
        /// Key in the file.
        key: String,
        /// Its element type.
        dtype: String,
    },
    /// The sidecar JSON of a saved U-Net is invalid.
    #[error("{path}: not a U-Net sidecar: {message}")]
    Sidecar {
        /// File.
        path: PathBuf,
        /// Cause.
        message: String,
    },
    /// A diffusers config or scheduler that this build cannot use, or a directory without weights.
    #[error("{path}: {message}")]
    Diffusers {
        /// File or directory.
        path: PathBuf,
        /// Cause, naming the field.
        message: String,
    },
    /// Saved safetensors weights do not match the sidecar, or the file is corrupt.
    #[error("{path}: {message}")]
    Weights {
        /// File.
        path: PathBuf,
        /// Cause, naming the first bad tensor.
        message: String,
    },
}

/// Parameters looked up by score_sde name in a state dict (`{prefix}{name}`).
struct StateDictSource<'a> {
    path: &'a Path,
    tensors: &'a HashMap<String, PtTensor>,
    prefix: String,
    used: HashSet<String>,
}

/// Parameters taken in order from `ema.shadow_params` (`model.parameters()` order).
struct ShadowSource<'a> {
    path: &'a Path,
    tensors: &'a HashMap<String, PtTensor>,
    next: usize,
}

/// Reads one tensor as `f32`, checking its shape against the config's.
fn read_f32(
    path: &Path,
    tensors: &HashMap<String, PtTensor>,
    key: &str,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>, UNetError> {
    let t = tensors.get(key).ok_or_else(|| UNetError::Missing {
        path: path.to_path_buf(),
        key: key.to_string(),
        name: name.to_string(),
    })?;
    if t.shape() != shape {
        return Err(UNetError::Shape {
            path: path.to_path_buf(),
            key: key.to_string(),
            name: name.to_string(),
            expected: shape.to_vec(),
            found: t.shape().to_vec(),
        });
    }
    let bytes = t.read().map_err(|e| UNetError::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    // The reader hands back native-endian bytes (it refuses big-endian files).
    super::diffusers_checkpoint::pytorch_f32(t.dtype(), &bytes).map_err(|dtype| UNetError::DType {
        path: path.to_path_buf(),
        key: key.to_string(),
        dtype,
    })
}

impl ParamSource for StateDictSource<'_> {
    type Error = UNetError;

    fn take(&mut self, name: &str, shape: &[usize], _init: Init) -> Result<Vec<f32>, UNetError> {
        let key = format!("{}{name}", self.prefix);
        let values = read_f32(self.path, self.tensors, &key, name, shape)?;
        self.used.insert(key);
        Ok(values)
    }
}

impl ParamSource for ShadowSource<'_> {
    type Error = UNetError;

    fn take(&mut self, name: &str, shape: &[usize], _init: Init) -> Result<Vec<f32>, UNetError> {
        let key = format!("ema.shadow_params.{}", self.next);
        self.next += 1;
        read_f32(self.path, self.tensors, &key, name, shape)
    }
}

/// Finds the prefix under which a checkpoint keeps the DDPM state dict.
fn state_dict_prefix(tensors: &HashMap<String, PtTensor>) -> Option<&'static str> {
    ["model.module.", "model.", "module.", ""]
        .into_iter()
        .find(|p| tensors.contains_key(&format!("{p}all_modules.0.weight")))
}

/// Loads a score_sde_pytorch DDPM checkpoint (`.pth`) into a U-Net of shape `config`.
///
/// `weights` picks the EMA (`ema.shadow_params`, matched to parameters by position, as score_sde
/// does) or the raw `model` state dict (matched by name). Every tensor the config needs must be
/// present with the right shape, and the file may hold no other weight tensors; the first
/// offender is named in the error. The `module.sigmas` buffer and the optimizer state are ignored.
pub fn import_score_sde(
    path: &Path,
    config: &UNetConfig,
    weights: WeightSet,
    device: &Device,
) -> Result<UNet, UNetError> {
    use burn::store::pytorch_reader::PytorchError;
    use std::io::ErrorKind;

    config.validate().map_err(UNetError::Config)?;
    let reader = PytorchReader::new(path).map_err(|e| match e {
        PytorchError::Io(source)
            if matches!(
                source.kind(),
                ErrorKind::NotFound | ErrorKind::PermissionDenied
            ) =>
        {
            UNetError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
        other => UNetError::Unreadable {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    })?;
    let tensors = reader.tensors();
    let (net, mut extra): (UNet, Vec<&String>) = match weights {
        WeightSet::Model => {
            let prefix = state_dict_prefix(tensors).ok_or_else(|| UNetError::Missing {
                path: path.to_path_buf(),
                key: "model.module.all_modules.0.weight".into(),
                name: "all_modules.0.weight: no score_sde state dict in the file".into(),
            })?;
            let mut source = StateDictSource {
                path,
                tensors,
                prefix: prefix.to_string(),
                used: HashSet::new(),
            };
            let (net, _) = UNet::build(config, &mut source, device)?;
            let sigmas = format!("{prefix}sigmas");
            let extra = tensors
                .keys()
                .filter(|k| k.starts_with(prefix) && !source.used.contains(*k) && **k != sigmas)
                .filter(|k| {
                    !prefix.is_empty() || !(k.starts_with("ema.") || k.starts_with("optimizer."))
                })
                .collect();
            (net, extra)
        }
        WeightSet::Ema => {
            let mut source = ShadowSource {
                path,
                tensors,
                next: 0,
            };
            let (net, _) = UNet::build(config, &mut source, device)?;
            let used = source.next;
            let extra = tensors
                .keys()
                .filter(|k| {
                    k.strip_prefix("ema.shadow_params.")
                        .and_then(|i| i.parse::<usize>().ok())
                        .is_some_and(|i| i >= used)
                })
                .collect();
            (net, extra)
        }
    };
    extra.sort_by_key(|k| natural_key(k));
    match extra.first() {
        None => Ok(net),
        Some(k) => Err(UNetError::Unexpected {
            path: path.to_path_buf(),
            key: (*k).clone(),
        }),
    }
}

/// Sort key that orders `all_modules.10` after `all_modules.9`.
fn natural_key(key: &str) -> Vec<(u64, String)> {
    key.split('.')
        .map(|part| match part.parse::<u64>() {
            Ok(n) => (n, String::new()),
            Err(_) => (u64::MAX, part.to_string()),
        })
        .collect()
}

/// Zero parameters, no more in all than `remaining` (the error gives the size asked for).
struct Budgeted {
    remaining: u128,
}

impl ParamSource for Budgeted {
    type Error = u128;

    fn take(&mut self, _name: &str, shape: &[usize], _init: Init) -> Result<Vec<f32>, u128> {
        let n = shape
            .iter()
            .fold(1u128, |a, &s| a.saturating_mul(s as u128));
        if n > self.remaining {
            return Err(n);
        }
        self.remaining -= n;
        Ok(vec![0.0; n as usize])
    }
}

/// Sidecar format version of a saved U-Net.
pub const UNET_FORMAT_VERSION: u32 = 1;

/// Everything in a saved U-Net's JSON sidecar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UNetMeta {
    /// Sidecar format version.
    pub format_version: u32,
    /// Always `"score-sde-ddpm"`.
    pub architecture: String,
    /// The shape.
    pub config: UNetConfig,
    /// The noise process the network is used with.
    pub process: NoiseProcess,
}

/// Architecture tag in the sidecar.
const ARCHITECTURE: &str = "score-sde-ddpm";

/// The sidecar of a weights file: the same path with the extension `json`.
pub fn sidecar_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> UNetError + '_ {
    move |source| UNetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl UNet {
    /// Writes the weights to `weights` (safetensors, burn's module paths) and the config to its
    /// JSON sidecar ([`sidecar_path`]), each atomically.
    pub fn save(&self, weights: &Path) -> Result<(), UNetError> {
        let Some(config) = self.score_sde_config() else {
            return Err(UNetError::Diffusers {
                path: weights.to_path_buf(),
                message: "this build saves score_sde networks only; a diffusers U-Net stays in \
                          its own directory"
                    .into(),
            });
        };
        if let Some(dir) = weights.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        let tmp = weights.with_extension("safetensors.tmp");
        let mut store = SafetensorsStore::from_file(&tmp).metadata("format", "collapse-explorer");
        self.save_into(&mut store).map_err(|e| UNetError::Weights {
            path: weights.to_path_buf(),
            message: e.to_string(),
        })?;
        std::fs::rename(&tmp, weights).map_err(io_error(weights))?;
        let meta = UNetMeta {
            format_version: UNET_FORMAT_VERSION,
            architecture: ARCHITECTURE.into(),
            config: config.clone(),
            process: self.process,
        };
        let json = sidecar_path(weights);
        let tmp = json.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&meta).expect("sidecar serialises");
        std::fs::write(&tmp, text).map_err(io_error(&tmp))?;
        std::fs::rename(&tmp, &json).map_err(io_error(&json))
    }

    /// Reads a U-Net written by [`UNet::save`] (the safetensors path; the sidecar is beside it).
    pub fn load(weights: &Path, device: &Device) -> Result<Self, UNetError> {
        let json = sidecar_path(weights);
        let text = std::fs::read_to_string(&json).map_err(io_error(&json))?;
        let sidecar_err = |message: String| UNetError::Sidecar {
            path: json.clone(),
            message,
        };
        let meta: UNetMeta = serde_json::from_str(&text).map_err(|e| sidecar_err(e.to_string()))?;
        if meta.format_version != UNET_FORMAT_VERSION || meta.architecture != ARCHITECTURE {
            return Err(sidecar_err(format!(
                "format {} version {} (this build reads {ARCHITECTURE} version {UNET_FORMAT_VERSION})",
                meta.architecture, meta.format_version
            )));
        }
        meta.config
            .validate()
            .map_err(|e| sidecar_err(e.to_string()))?;
        if !weights.exists() {
            return Err(UNetError::Io {
                path: weights.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "weights file missing"),
            });
        }
        // The sidecar's sizes come from a file: build no more parameters than the weights file
        // can hold (4 bytes each), so a lying sidecar is an error, not an allocation failure.
        let have = std::fs::metadata(weights).map_or(0, |m| m.len()) as u128;
        let mut budget = Budgeted {
            remaining: have / 4,
        };
        let (mut net, _) = UNet::build(&meta.config, &mut budget, device).map_err(|need| {
            sidecar_err(format!(
                "its config needs at least {need} more parameters than the {have} bytes of {} \
                 hold",
                weights.display()
            ))
        })?;
        crate::model::checkpoint::load_safetensors_strict(&mut net, weights, "config").map_err(
            |message| UNetError::Weights {
                path: weights.to_path_buf(),
                message: message.to_string(),
            },
        )?;
        Ok(net.with_process(meta.process))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Tensor, TensorData};

    /// `tests/fixtures/unet/reference.json`, written by `tools/make_unet_fixture.py`.
    #[derive(Deserialize)]
    struct Reference {
        config: UNetConfig,
        x_shape: [usize; 4],
        x: Vec<f32>,
        t: Vec<f32>,
        eps_model: Vec<f32>,
        eps_ema: Vec<f32>,
    }

    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unet")
    }

    fn checkpoint() -> PathBuf {
        fixture_dir().join("checkpoint.pth")
    }

    fn reference() -> Reference {
        let text = std::fs::read_to_string(fixture_dir().join("reference.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn run(net: &UNet, r: &Reference, dev: &Device) -> Vec<f32> {
        let x = Tensor::<4>::from_data(TensorData::new(r.x.clone(), r.x_shape), dev);
        let t = Tensor::<1>::from_data(TensorData::new(r.t.clone(), [r.t.len()]), dev);
        net.forward(x, t)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    /// Largest absolute difference, relative to the reference's largest magnitude.
    fn max_rel_error(got: &[f32], want: &[f32]) -> f64 {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
        let err = got
            .iter()
            .zip(want)
            .fold(0f64, |m, (g, w)| m.max((*g as f64 - *w as f64).abs()));
        err / scale
    }

    /// The burn U-Net reproduces PyTorch's DDPM on the fixture, for both weight sets. f32
    /// round-off through ~20 layers (sums of ≤ 600 terms, a softmax) stays far below 1e-4.
    #[test]
    fn fixture_matches_pytorch() {
        let dev = Device::flex();
        let r = reference();
        for (set, want) in [
            (WeightSet::Model, &r.eps_model),
            (WeightSet::Ema, &r.eps_ema),
        ] {
            let net = import_score_sde(&checkpoint(), &r.config, set, &dev).unwrap();
            let err = max_rel_error(&run(&net, &r, &dev), want);
            eprintln!("{set:?}: max |ε − ε_torch| / max |ε_torch| = {err:.2e}");
            assert!(err < 1e-4, "{set:?}: relative error {err}");
        }
        // The two weight sets are different networks.
        assert!(max_rel_error(&r.eps_model, &r.eps_ema) > 0.1);
    }

    #[test]
    fn wrong_shape_names_the_tensor() {
        let dev = Device::flex();
        let mut config = reference().config;
        config.ch_mult = vec![1, 2];
        let e = import_score_sde(&checkpoint(), &config, WeightSet::Model, &dev).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(&e, UNetError::Shape { key, expected, found, .. }
                if key == "model.module.all_modules.5.Conv_0.weight"
                    && expected == &[64, 32, 3, 3] && found == &[32, 32, 3, 3]),
            "{msg}"
        );
        assert!(
            msg.contains("model.module.all_modules.5.Conv_0.weight"),
            "{msg}"
        );
        let e = import_score_sde(&checkpoint(), &config, WeightSet::Ema, &dev).unwrap_err();
        assert!(
            matches!(&e, UNetError::Shape { name, .. } if name == "all_modules.5.Conv_0.weight"),
            "{e}"
        );
        assert!(e.to_string().contains("ema.shadow_params."), "{e}");
    }

    #[test]
    fn missing_and_unexpected_tensors_are_named() {
        let dev = Device::flex();
        let base = reference().config;
        // Without attention at 4×4, module 6 is the middle ResnetBlock: no `Conv_0` in the file.
        let mut config = base.clone();
        config.attn_resolutions.clear();
        let e = import_score_sde(&checkpoint(), &config, WeightSet::Model, &dev).unwrap_err();
        assert!(
            matches!(&e, UNetError::Missing { key, .. }
                if key == "model.module.all_modules.6.Conv_0.weight"),
            "{e}"
        );
        // Average-pool resampling leaves the resampling convolutions unused.
        let mut config = base.clone();
        config.resamp_with_conv = false;
        let e = import_score_sde(&checkpoint(), &config, WeightSet::Model, &dev).unwrap_err();
        assert!(
            matches!(&e, UNetError::Unexpected { key, .. }
                if key.starts_with("model.module.all_modules.4.Conv_0.")),
            "{e}"
        );
        let e = import_score_sde(&checkpoint(), &config, WeightSet::Ema, &dev).unwrap_err();
        assert!(matches!(&e, UNetError::Shape { .. }), "{e}");
    }

    #[test]
    fn corrupt_files_are_errors() {
        let dev = Device::flex();
        let config = reference().config;
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(checkpoint()).unwrap();
        for (name, data) in [
            ("truncated.pth", &bytes[..bytes.len() / 2]),
            ("head.pth", &bytes[..100]),
            ("empty.pth", &[][..]),
            ("garbage.pth", &b"definitely not a checkpoint"[..]),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, data).unwrap();
            for set in [WeightSet::Model, WeightSet::Ema] {
                let e = import_score_sde(&path, &config, set, &dev).unwrap_err();
                assert!(e.to_string().contains(name), "{e}");
            }
        }
        // A damaged archive directory is an error. (Damaged tensor bytes are caught by the ZIP
        // checksum only where a tensor spans its whole storage; the fixture's tensors share one
        // storage, so there they merely must not panic.)
        for (name, range) in [
            ("directory.pth", bytes.len() - 64..bytes.len()),
            ("data.pth", bytes.len() / 2..bytes.len() / 2 + 64),
        ] {
            let mut damaged = bytes.clone();
            for b in &mut damaged[range] {
                *b ^= 0x5a;
            }
            let path = dir.path().join(name);
            std::fs::write(&path, &damaged).unwrap();
            let result = import_score_sde(&path, &config, WeightSet::Model, &dev);
            if name == "directory.pth" {
                assert!(result.is_err());
            }
        }
        let e = import_score_sde(
            &dir.path().join("absent.pth"),
            &config,
            WeightSet::Ema,
            &dev,
        );
        assert!(matches!(e, Err(UNetError::Io { .. })));
    }

    #[test]
    fn safetensors_round_trip() {
        let dev = Device::flex();
        let r = reference();
        let net = import_score_sde(&checkpoint(), &r.config, WeightSet::Ema, &dev).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unet.safetensors");
        net.save(&path).unwrap();
        assert!(sidecar_path(&path).exists());
        let back = UNet::load(&path, &dev).unwrap();
        assert_eq!(back.score_sde_config(), Some(&r.config));
        assert_eq!(run(&back, &r, &dev), run(&net, &r, &dev));

        // A sidecar whose config disagrees with the weights (one level fewer) names a tensor.
        let json = sidecar_path(&path);
        let mut meta: UNetMeta =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        meta.config.ch_mult = vec![1];
        std::fs::write(&json, serde_json::to_string(&meta).unwrap()).unwrap();
        let e = UNet::load(&path, &dev).unwrap_err();
        assert!(matches!(e, UNetError::Weights { .. }), "{e}");
        // A sidecar asking for far more parameters than the weights file holds is an error
        // before the network is built; absurd sizes are refused by the config's checks.
        meta.config = r.config.clone();
        meta.config.nf = 1 << 14;
        std::fs::write(&json, serde_json::to_string(&meta).unwrap()).unwrap();
        let e = UNet::load(&path, &dev).unwrap_err().to_string();
        assert!(e.contains("more parameters"), "{e}");
        meta.config.nf = 1 << 40;
        std::fs::write(&json, serde_json::to_string(&meta).unwrap()).unwrap();
        let e = UNet::load(&path, &dev).unwrap_err().to_string();
        assert!(e.contains("beyond any memory"), "{e}");
        // A truncated weights file is an error, not a panic.
        meta.config = r.config.clone();
        std::fs::write(&json, serde_json::to_string(&meta).unwrap()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
        assert!(UNet::load(&path, &dev).is_err());
    }
}
