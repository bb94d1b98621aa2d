//! Opening what a user brings: a U-Net (a diffusers model or pipeline directory, a `train-unet`
//! directory, a U-Net `.safetensors`, or a score_sde `.pth` with a config name or file) and its
//! training images (`procedural`, a file or a
//! directory, or what a `train-unet` directory recorded). Shared by the CLI's `images` and
//! `train-unet` commands and the app's Images view, so that both accept the same inputs and
//! give the same errors.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use super::analysis::ImageSource;
use super::diffusers_checkpoint::{find_diffusers, open_diffusers};
use super::train::{TRAINING_RECORD, TrainingRecord, TrainingRecordError};
use super::unet::{NamedConfig, UNetConfigError, score_sde_named, score_sde_names};
use super::{UNet, UNetConfig, UNetError, WeightSet, import_score_sde};

/// Why a U-Net or its training images could not be opened; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The checkpoint path does not exist.
    #[error("checkpoint {} does not exist", .0.display())]
    Missing(PathBuf),
    /// A directory without U-Net weights.
    #[error(
        "{} holds no U-Net (no {name}, and no diffusers config.json or unet/config.json); train \
         one with `train-unet --out {}`",
        dir.display(),
        dir.display()
    )]
    NoUNet {
        /// The directory.
        dir: PathBuf,
        /// The file it lacks.
        name: &'static str,
    },
    /// A PyTorch checkpoint without its config.
    #[error(
        "{} is a PyTorch checkpoint: pass its U-Net shape with --config NAME (score_sde's \
         released configs: {}) or --config FILE.toml",
        .0.display(),
        score_sde_names()
    )]
    NeedsConfig(PathBuf),
    /// The config file cannot be read.
    #[error(
        "--config '{}' is neither a config name ({names}) nor a readable TOML file: {error}",
        path.display()
    )]
    ConfigUnreadable {
        /// The file.
        path: PathBuf,
        /// The names that would have been accepted.
        names: String,
        /// Why.
        error: std::io::Error,
    },
    /// The config file is not TOML of U-Net fields.
    #[error("parsing {}: {error}", path.display())]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// The config describes no valid U-Net.
    #[error("{}: {error}", path.display())]
    ConfigInvalid {
        /// The file.
        path: PathBuf,
        /// Why.
        error: UNetConfigError,
    },
    /// The weights could not be loaded.
    #[error("loading the U-Net {}: {error}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        error: Box<UNetError>,
    },
    /// The diffusers model could not be opened.
    #[error("opening the diffusers U-Net {}: {error}", path.display())]
    Diffusers {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: Box<UNetError>,
    },
    /// The PyTorch checkpoint could not be imported.
    #[error("importing {}: {error}", path.display())]
    Import {
        /// The file.
        path: PathBuf,
        /// Why.
        error: Box<UNetError>,
    },
    /// The `train-unet` directory's record of its training images is unreadable.
    #[error("finding the training images (or name them): {0}")]
    Record(TrainingRecordError),
    /// Nothing records the training images.
    #[error(
        "this checkpoint does not record its training images: name them (procedural or a file \
         or directory)"
    )]
    NoRecord,
}

impl OpenError {
    /// Whether the training images, not the model, are what is missing.
    pub fn is_about_data(&self) -> bool {
        matches!(self, Self::Record(_) | Self::NoRecord)
    }
}

/// A U-Net as loaded by [`load_unet`].
pub struct LoadedUNet {
    /// The network.
    pub net: UNet,
    /// The `train-unet` directory it came from, if any (its `training.json` names the data).
    pub dir: Option<PathBuf>,
    /// The file the weights were read from.
    pub file: PathBuf,
    /// Something the user should know (e.g. "no EMA weights, using the raw ones").
    pub note: Option<String>,
}

/// A U-Net config from a TOML file of [`UNetConfig`] fields (missing fields take the defaults,
/// the paper's CIFAR-10 model); `names` lists the config names the caller would have accepted
/// instead, for the error.
pub fn read_config_toml(path: &Path, names: &str) -> Result<UNetConfig, OpenError> {
    let path_buf = || path.to_path_buf();
    let text = std::fs::read_to_string(path).map_err(|error| OpenError::ConfigUnreadable {
        path: path_buf(),
        names: names.to_string(),
        error,
    })?;
    let config: UNetConfig = toml::from_str(&text).map_err(|e| OpenError::ConfigParse {
        path: path_buf(),
        error: e.to_string(),
    })?;
    config
        .validate()
        .map_err(|error| OpenError::ConfigInvalid {
            path: path_buf(),
            error,
        })?;
    Ok(config)
}

/// The training images a `--data` value names: `procedural` (the shapes set: `n` images,
/// default 20,000, of `size`, default 16) or a file or directory (a random subset of `n`, resized
/// to `size`, converted to `channels`, when given).
pub fn image_source(
    data: &str,
    n: Option<usize>,
    size: Option<usize>,
    channels: Option<usize>,
    seed: u64,
) -> ImageSource {
    if data == "procedural" {
        ImageSource::Procedural {
            n: n.unwrap_or(20_000),
            size: size.unwrap_or(16),
            seed,
        }
    } else {
        ImageSource::File {
            path: PathBuf::from(data),
            n,
            seed,
            size,
            channels,
        }
    }
}

/// The training images of a study: `data` when given, else what the `train-unet` directory
/// `dir` recorded.
pub fn training_source(
    data: Option<ImageSource>,
    dir: Option<&Path>,
) -> Result<ImageSource, OpenError> {
    match (data, dir) {
        (Some(d), _) => Ok(d),
        (None, Some(dir)) => Ok(TrainingRecord::load(dir).map_err(OpenError::Record)?.data),
        (None, None) => Err(OpenError::NoRecord),
    }
}

/// The score_sde config of a `.pth`: one of score_sde's released configs by name
/// ([`score_sde_named`]), with its process, or a TOML file of [`UNetConfig`] fields (VP).
pub fn score_sde_config(config: &Path) -> Result<NamedConfig, OpenError> {
    if let Some(named) = config.to_str().and_then(score_sde_named)
        && !config.exists()
    {
        return Ok(named);
    }
    Ok(NamedConfig {
        name: "",
        file: "",
        process: crate::diffusion::NoiseProcess::vp(),
        config: read_config_toml(config, &score_sde_names())?,
    })
}

/// Loads the U-Net `checkpoint` names: a diffusers model or pipeline directory (or its
/// `config.json`), a `train-unet` directory (its `ema.safetensors` or `model.safetensors`), a
/// U-Net `.safetensors`, or a score_sde `.pth`/`.pt`/`.ckpt` (which needs `config`: a config
/// name such as `ddpm-cifar10`, or a TOML file of [`UNetConfig`] fields).
pub fn load_unet(
    checkpoint: &Path,
    config: Option<&Path>,
    weights: WeightSet,
    device: &Device,
) -> Result<LoadedUNet, OpenError> {
    if !checkpoint.exists() {
        return Err(OpenError::Missing(checkpoint.to_path_buf()));
    }
    if let Some(files) = find_diffusers(checkpoint) {
        let opened = open_diffusers(&files, device).map_err(|error| OpenError::Diffusers {
            path: files.dir.clone(),
            error: Box::new(error),
        })?;
        return Ok(LoadedUNet {
            net: opened.net,
            dir: None,
            file: opened.weights,
            note: opened.note,
        });
    }
    if checkpoint.is_dir() {
        let name = match weights {
            WeightSet::Ema => "ema.safetensors",
            WeightSet::Model => "model.safetensors",
        };
        let mut path = checkpoint.join(name);
        let mut note = None;
        if !path.exists() && weights == WeightSet::Ema {
            note = Some(format!(
                "{} has no ema.safetensors; using model.safetensors",
                checkpoint.display()
            ));
            path = checkpoint.join("model.safetensors");
        }
        if !path.exists() {
            return Err(OpenError::NoUNet {
                dir: checkpoint.to_path_buf(),
                name,
            });
        }
        let net = UNet::load(&path, device).map_err(|error| OpenError::Load {
            path: path.clone(),
            error: Box::new(error),
        })?;
        return Ok(LoadedUNet {
            net,
            dir: Some(checkpoint.to_path_buf()),
            file: path,
            note,
        });
    }
    let ext = checkpoint
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    if matches!(ext, "pth" | "pt" | "ckpt") {
        let Some(config) = config else {
            return Err(OpenError::NeedsConfig(checkpoint.to_path_buf()));
        };
        let named = score_sde_config(config)?;
        let net = import_score_sde(checkpoint, &named.config, weights, device)
            .map_err(|error| OpenError::Import {
                path: checkpoint.to_path_buf(),
                error: Box::new(error),
            })?
            .with_process(named.process);
        return Ok(LoadedUNet {
            net,
            dir: None,
            file: checkpoint.to_path_buf(),
            note: None,
        });
    }
    let net = UNet::load(checkpoint, device).map_err(|error| OpenError::Load {
        path: checkpoint.to_path_buf(),
        error: Box::new(error),
    })?;
    let dir = checkpoint
        .parent()
        .filter(|d| d.join(TRAINING_RECORD).exists())
        .map(Path::to_path_buf);
    Ok(LoadedUNet {
        net,
        dir,
        file: checkpoint.to_path_buf(),
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_unrecorded_inputs_say_what_to_do() {
        let dev = Device::flex();
        let e = load_unet(Path::new("/nonexistent/unet"), None, WeightSet::Ema, &dev)
            .err()
            .expect("missing checkpoint");
        assert!(e.to_string().contains("does not exist"), "{e}");
        let dir = std::env::temp_dir().join(format!("ce-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = load_unet(&dir, None, WeightSet::Ema, &dev)
            .err()
            .expect("empty directory");
        assert!(e.to_string().contains("holds no U-Net"), "{e}");
        let pth = dir.join("c.pth");
        std::fs::write(&pth, b"not a checkpoint").unwrap();
        let e = load_unet(&pth, None, WeightSet::Ema, &dev)
            .err()
            .expect("pth without config");
        assert!(e.to_string().contains("--config"), "{e}");
        let e = training_source(None, None).unwrap_err();
        assert!(e.to_string().contains("name them"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            image_source("procedural", None, None, None, 3),
            ImageSource::Procedural {
                n: 20_000,
                size: 16,
                seed: 3
            }
        );
    }
}
