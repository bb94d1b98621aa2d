//! Opening a diffusers `UNet2DModel` as it is saved by `save_pretrained` or downloaded from the
//! Hub: a model directory with `config.json` and `diffusion_pytorch_model.safetensors` (or the
//! older `diffusion_pytorch_model.bin`), with `scheduler_config.json` beside it, or a pipeline
//! directory with `unet/` and `scheduler/` (`google/ddpm-cifar10-32` has both layouts' files).
//!
//! Tensors are looked up by today's names; attention weights saved before diffusers 0.14
//! (`query`, `key`, `value`, `proj_attn`) are found under their old names. Every tensor the config
//! needs must be there with its shape, and the file may hold no other; the first offender is
//! named. f32, f64, f16 and bf16 tensors are read (as f32).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use burn::store::pytorch_reader::PytorchReader;
use burn::tensor::Device;

use super::UNetError;
use super::unet::diffusers::{DiffusersBuildError, legacy_attention_name};
use super::unet::{DiffusersConfig, DiffusersUNet, Init, ParamSource, Scheduler, UNet};

/// A diffusers model's config file name.
pub const CONFIG_FILE: &str = "config.json";
/// A diffusers scheduler's config file name.
pub const SCHEDULER_FILE: &str = "scheduler_config.json";
/// Weight files of a diffusers model, in the order they are looked for.
pub const WEIGHT_FILES: [&str; 2] = [
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.bin",
];

/// The files of a diffusers U-Net.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffusersFiles {
    /// The model directory (holding `config.json`).
    pub dir: PathBuf,
    /// Its `config.json`.
    pub config: PathBuf,
    /// Its scheduler's `scheduler_config.json`, if there is one.
    pub scheduler: Option<PathBuf>,
}

/// Whether `path` is a diffusers model: a directory with `config.json`, a pipeline directory with
/// `unet/config.json`, or a `config.json` itself.
pub fn find_diffusers(path: &Path) -> Option<DiffusersFiles> {
    let dir = if path.is_dir() {
        if path.join(CONFIG_FILE).is_file() {
            path.to_path_buf()
        } else if path.join("unet").join(CONFIG_FILE).is_file() {
            path.join("unet")
        } else {
            return None;
        }
    } else if path.file_name().is_some_and(|n| n == CONFIG_FILE) {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    } else {
        return None;
    };
    let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let scheduler = [
        dir.join(SCHEDULER_FILE),
        dir.join("scheduler").join(SCHEDULER_FILE),
        parent.join("scheduler").join(SCHEDULER_FILE),
    ]
    .into_iter()
    .find(|p| p.is_file());
    Some(DiffusersFiles {
        config: dir.join(CONFIG_FILE),
        dir,
        scheduler,
    })
}

/// A U-Net opened from diffusers files.
pub struct OpenedDiffusers {
    /// The network.
    pub net: UNet,
    /// The weights file read.
    pub weights: PathBuf,
    /// Something the user should know (a missing scheduler config, say).
    pub note: Option<String>,
}

fn diffusers_error(path: &Path, message: impl ToString) -> UNetError {
    UNetError::Diffusers {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, UNetError> {
    let text = std::fs::read_to_string(path).map_err(|source| UNetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| diffusers_error(path, e))
}

/// Reads the config, the scheduler and the weights of a diffusers U-Net and builds it.
pub fn open_diffusers(
    files: &DiffusersFiles,
    device: &Device,
) -> Result<OpenedDiffusers, UNetError> {
    let config: DiffusersConfig = read_json(&files.config)?;
    config
        .validate()
        .map_err(|e| diffusers_error(&files.config, e))?;
    let (scheduler, note) = match &files.scheduler {
        Some(path) => (read_json::<Scheduler>(path)?, None),
        None => (
            Scheduler::default(),
            Some(format!(
                "{} has no {SCHEDULER_FILE}: assuming DDPM's linear betas 1e-4 to 0.02 over 1,000 \
                 steps and ε-prediction",
                files.dir.display()
            )),
        ),
    };
    let scheduler_path = files
        .scheduler
        .clone()
        .unwrap_or_else(|| files.config.clone());
    scheduler
        .process()
        .map_err(|e| diffusers_error(&scheduler_path, e))?;
    let weights = WEIGHT_FILES
        .iter()
        .map(|name| files.dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            diffusers_error(
                &files.dir,
                format!(
                    "no {} or {} (fp16 variant files are not read)",
                    WEIGHT_FILES[0], WEIGHT_FILES[1]
                ),
            )
        })?;
    let tensors = read_tensors(&weights)?;
    let model = DiffusersUNet { config, scheduler };
    let mut source = NamedSource {
        path: &weights,
        tensors: &tensors,
        used: HashSet::new(),
    };
    let net = UNet::build_diffusers(&model, &mut source, device).map_err(|e| match e {
        DiffusersBuildError::Config(e) => diffusers_error(&files.config, e),
        DiffusersBuildError::Weights(e) => e,
    })?;
    let mut extra: Vec<&String> = tensors
        .keys()
        .filter(|k| !source.used.contains(*k))
        .collect();
    extra.sort();
    if let Some(key) = extra.first() {
        return Err(UNetError::Unexpected {
            path: weights,
            key: (*key).clone(),
        });
    }
    Ok(OpenedDiffusers { net, weights, note })
}

/// One stored tensor: its shape and its values as f32, or the element type it could not be read in.
struct Stored {
    shape: Vec<usize>,
    values: Result<Vec<f32>, String>,
}

/// Every tensor of a safetensors or PyTorch (`.bin`) weights file, by name.
fn read_tensors(path: &Path) -> Result<HashMap<String, Stored>, UNetError> {
    let unreadable = |message: String| UNetError::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    if path.extension().is_some_and(|e| e == "safetensors") {
        let bytes = std::fs::read(path).map_err(|source| UNetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| unreadable(format!("not a readable safetensors file: {e}")))?;
        return Ok(file
            .iter()
            .map(|(name, view)| {
                let values = safetensors_f32(view.dtype(), view.data());
                let stored = Stored {
                    shape: view.shape().to_vec(),
                    values,
                };
                (name.to_string(), stored)
            })
            .collect());
    }
    let reader = PytorchReader::new(path).map_err(|e| unreadable(e.to_string()))?;
    let mut out = HashMap::new();
    for (name, t) in reader.tensors() {
        let values = match t.read() {
            Ok(bytes) => pytorch_f32(t.dtype(), &bytes),
            Err(e) => return Err(unreadable(format!("tensor '{name}': {e}"))),
        };
        out.insert(
            name.clone(),
            Stored {
                shape: t.shape().to_vec(),
                values,
            },
        );
    }
    Ok(out)
}

/// Little-endian safetensors bytes as f32.
fn safetensors_f32(dtype: safetensors::Dtype, data: &[u8]) -> Result<Vec<f32>, String> {
    use safetensors::Dtype;
    Ok(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => return Err(format!("{other:?}")),
    })
}

/// Native-endian bytes from burn's PyTorch reader as f32 (the element type's name when it is
/// not a float); score_sde imports read through it too.
pub(super) fn pytorch_f32(
    dtype: burn::store::pytorch_reader::DType,
    data: &[u8],
) -> Result<Vec<f32>, String> {
    use burn::store::pytorch_reader::DType;
    Ok(match dtype {
        DType::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        DType::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        DType::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_ne_bytes([b[0], b[1]]).to_f32())
            .collect(),
        DType::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_ne_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => return Err(format!("{other:?}")),
    })
}

/// Parameters looked up by diffusers name (or the pre-0.14 attention name).
struct NamedSource<'a> {
    path: &'a Path,
    tensors: &'a HashMap<String, Stored>,
    used: HashSet<String>,
}

impl ParamSource for NamedSource<'_> {
    type Error = UNetError;

    fn take(&mut self, name: &str, shape: &[usize], _init: Init) -> Result<Vec<f32>, UNetError> {
        let key = if self.tensors.contains_key(name) {
            name.to_string()
        } else {
            legacy_attention_name(name)
                .filter(|old| self.tensors.contains_key(old))
                .ok_or_else(|| UNetError::Missing {
                    path: self.path.to_path_buf(),
                    key: name.to_string(),
                    name: "the config.json".to_string(),
                })?
        };
        let stored = &self.tensors[&key];
        if stored.shape != shape {
            return Err(UNetError::Shape {
                path: self.path.to_path_buf(),
                key,
                name: name.to_string(),
                expected: shape.to_vec(),
                found: stored.shape.clone(),
            });
        }
        let values = stored.values.clone().map_err(|dtype| UNetError::DType {
            path: self.path.to_path_buf(),
            key: key.clone(),
            dtype,
        })?;
        if values.len() != shape.iter().product::<usize>() {
            return Err(UNetError::Unreadable {
                path: self.path.to_path_buf(),
                message: format!(
                    "tensor '{key}' holds {} values for shape {shape:?}",
                    values.len()
                ),
            });
        }
        self.used.insert(key);
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Tensor, TensorData};
    use serde::Deserialize;

    /// One network of `tests/fixtures/diffusers/reference.json` (`tools/make_diffusers_fixture.py`).
    #[derive(Deserialize)]
    struct Reference {
        x_shape: [usize; 4],
        x: Vec<f32>,
        t: Vec<f32>,
        timesteps: Vec<f32>,
        eps: Vec<f32>,
        /// The network's raw output, where it predicts something other than ε.
        #[serde(default)]
        output: Vec<f32>,
    }

    pub(crate) fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/diffusers")
            .join(name)
    }

    fn reference(name: &str) -> Reference {
        let text = std::fs::read_to_string(fixture("reference.json")).unwrap();
        let mut all: HashMap<String, Reference> = serde_json::from_str(&text).unwrap();
        all.remove(name).unwrap()
    }

    fn open(path: &Path) -> Result<OpenedDiffusers, UNetError> {
        let files = find_diffusers(path).expect("a diffusers directory");
        open_diffusers(&files, &Device::flex())
    }

    /// Largest absolute difference from diffusers' output.
    fn max_abs_error(net: &UNet, r: &Reference) -> f64 {
        let dev = Device::flex();
        let x = Tensor::<4>::from_data(TensorData::new(r.x.clone(), r.x_shape), &dev);
        let t = Tensor::<1>::from_data(TensorData::new(r.t.clone(), [r.t.len()]), &dev);
        let got: Vec<f32> = net
            .forward(x, t)
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .unwrap();
        assert_eq!(got.len(), r.eps.len());
        got.iter()
            .zip(&r.eps)
            .fold(0f64, |m, (g, w)| m.max((*g as f64 - *w as f64).abs()))
    }

    /// Both fixtures, written by diffusers 0.25.1's `save_pretrained` (safetensors with today's
    /// names; `.bin` with pre-0.14 attention names, multi-head attention, flipped embedding,
    /// symmetric padding, centred inputs and a mid-block scale), give diffusers' ε̂ to ≤ 1e-4.
    #[test]
    fn fixtures_match_diffusers() {
        for name in ["ddpm", "legacy"] {
            let r = reference(name);
            let opened = open(&fixture(name)).unwrap();
            let scale = opened.net.wiring.time.unwrap().label_scale as f32;
            for (t, ts) in r.t.iter().zip(&r.timesteps) {
                assert!((t * scale - ts).abs() < 1e-3, "timestep {ts} for t = {t}");
            }
            let err = max_abs_error(&opened.net, &r);
            let peak = r.eps.iter().fold(0f32, |m, v| m.max(v.abs()));
            eprintln!("{name}: max |ε − ε_diffusers| = {err:.2e} (max |ε| {peak:.2})");
            assert!(err <= 1e-4, "{name}: {err}");
            assert!(opened.note.is_none());
        }
        let legacy = open(&fixture("legacy")).unwrap();
        assert!(legacy.weights.ends_with("diffusion_pytorch_model.bin"));
        assert!(legacy.net.attn_blocks.iter().any(|a| a.heads > 1));
        assert!(!legacy.net.takes_centered());
    }

    /// The `ddpm` network read as v-prediction and as x₀-prediction (its directory with the
    /// scheduler diffusers saved for each): the raw output is diffusers', and the ε̂ every
    /// sampler here uses is the one diffusers' own `step` implies, to ≤ 1e-4.
    #[test]
    fn v_and_sample_predictions_become_diffusers_epsilon() {
        use crate::diffusion::{EpsilonModel, Times};
        let dev = Device::flex();
        for prediction in ["v_prediction", "sample"] {
            let r = reference(&format!("ddpm-{prediction}"));
            let dir = tempfile::tempdir().unwrap();
            for f in [CONFIG_FILE, WEIGHT_FILES[0]] {
                std::fs::copy(fixture("ddpm").join(f), dir.path().join(f)).unwrap();
            }
            std::fs::copy(
                fixture("schedulers").join(prediction).join(SCHEDULER_FILE),
                dir.path().join(SCHEDULER_FILE),
            )
            .unwrap();
            let opened = open(dir.path()).unwrap();
            let raw = Reference {
                eps: r.output.clone(),
                x: r.x.clone(),
                t: r.t.clone(),
                timesteps: r.timesteps.clone(),
                output: vec![],
                x_shape: r.x_shape,
            };
            assert!(
                max_abs_error(&opened.net, &raw) <= 1e-4,
                "{prediction}: raw output"
            );
            let [b, c, h, w] = r.x_shape;
            let rows = Tensor::<2>::from_data(TensorData::new(r.x.clone(), [b, c * h * w]), &dev);
            let times = Times::PerRow(r.t.iter().map(|&t| f64::from(t)).collect());
            let eps: Vec<f32> = opened
                .net
                .epsilon(rows, &times)
                .into_data()
                .convert::<f32>()
                .try_to_vec()
                .unwrap();
            let err = eps.iter().zip(&r.eps).fold(0f64, |m, (g, w)| {
                m.max((f64::from(*g) - f64::from(*w)).abs())
            });
            eprintln!("{prediction}: max |ε̂ − ε̂_diffusers| = {err:.2e}");
            assert!(err <= 1e-4, "{prediction}: {err}");
            // The conversion is not the identity: the raw output is far from ε̂.
            let moved = r
                .output
                .iter()
                .zip(&r.eps)
                .any(|(o, e)| (o - e).abs() > 0.1);
            assert!(moved, "{prediction}");
        }
    }

    /// A pipeline layout (`unet/`, `scheduler/`) opens from its root; without a scheduler the
    /// DDPM default is assumed and said.
    #[test]
    fn pipeline_layout_and_missing_scheduler() {
        let dir = tempfile::tempdir().unwrap();
        let unet = dir.path().join("unet");
        let sched = dir.path().join("scheduler");
        std::fs::create_dir_all(&unet).unwrap();
        std::fs::create_dir_all(&sched).unwrap();
        let src = fixture("ddpm");
        for f in [CONFIG_FILE, WEIGHT_FILES[0]] {
            std::fs::copy(src.join(f), unet.join(f)).unwrap();
        }
        std::fs::copy(src.join(SCHEDULER_FILE), sched.join(SCHEDULER_FILE)).unwrap();
        let files = find_diffusers(dir.path()).unwrap();
        assert_eq!(
            files.scheduler.as_deref(),
            Some(sched.join(SCHEDULER_FILE).as_path())
        );
        let opened = open_diffusers(&files, &Device::flex()).unwrap();
        assert!(max_abs_error(&opened.net, &reference("ddpm")) <= 1e-4);
        std::fs::remove_file(sched.join(SCHEDULER_FILE)).unwrap();
        let opened = open(&unet.join(CONFIG_FILE)).unwrap();
        assert!(opened.note.unwrap().contains("assuming DDPM"));
    }

    /// Bad files are errors that name the file and the field or tensor.
    #[test]
    fn bad_directories_are_named_errors() {
        let src = fixture("ddpm");
        let copy = |dir: &Path| {
            for f in [CONFIG_FILE, WEIGHT_FILES[0], SCHEDULER_FILE] {
                std::fs::copy(src.join(f), dir.join(f)).unwrap();
            }
        };
        let edit = |path: &Path, from: &str, to: &str| {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(text.contains(from), "{from}");
            std::fs::write(path, text.replacen(from, to, 1)).unwrap();
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        copy(d);
        // A prediction type this build does not convert.
        edit(&d.join(SCHEDULER_FILE), "\"epsilon\"", "\"flow\"");
        let e = open(d).err().unwrap().to_string();
        assert!(e.contains("prediction_type") && e.contains("flow"), "{e}");
        assert!(e.contains(SCHEDULER_FILE), "{e}");
        copy(d);
        // A block type this build does not implement.
        edit(
            &d.join(CONFIG_FILE),
            "\"AttnDownBlock2D\"",
            "\"SkipDownBlock2D\"",
        );
        let e = open(d).err().unwrap().to_string();
        assert!(
            e.contains("SkipDownBlock2D") && e.contains(CONFIG_FILE),
            "{e}"
        );
        copy(d);
        // Another width than the weights have.
        edit(&d.join(CONFIG_FILE), "16,", "32,");
        let e = open(d).err().unwrap();
        assert!(
            matches!(&e, UNetError::Shape { key, .. } if key.starts_with("time_embedding")),
            "{e}"
        );
        copy(d);
        // One level fewer: the file has tensors the config does not use... and lacks none.
        edit(
            &d.join(CONFIG_FILE),
            "\"layers_per_block\": 1",
            "\"layers_per_block\": 2",
        );
        let e = open(d).err().unwrap();
        assert!(
            matches!(&e, UNetError::Missing { key, .. } if key == "down_blocks.0.resnets.1.norm1.weight"),
            "{e}"
        );
        copy(d);
        // Not JSON; truncated weights; no weights.
        std::fs::write(d.join(CONFIG_FILE), "{ not json").unwrap();
        assert!(open(d).err().unwrap().to_string().contains(CONFIG_FILE));
        copy(d);
        let bytes = std::fs::read(d.join(WEIGHT_FILES[0])).unwrap();
        std::fs::write(d.join(WEIGHT_FILES[0]), &bytes[..bytes.len() / 2]).unwrap();
        let e = open(d).err().unwrap().to_string();
        assert!(e.contains(WEIGHT_FILES[0]), "{e}");
        std::fs::remove_file(d.join(WEIGHT_FILES[0])).unwrap();
        let e = open(d).err().unwrap().to_string();
        assert!(e.contains("no diffusion_pytorch_model.safetensors"), "{e}");
        // An extra tensor is named.
        copy(d);
        let e = {
            let legacy = fixture("legacy");
            std::fs::copy(legacy.join(CONFIG_FILE), d.join(CONFIG_FILE)).unwrap();
            open(d).err().unwrap()
        };
        assert!(
            matches!(e, UNetError::Missing { .. } | UNetError::Shape { .. }),
            "{e}"
        );
    }
}
