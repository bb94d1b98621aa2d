//! Entry points for the fuzz targets under `fuzz/` (cargo-fuzz, libFuzzer) and for the
//! regression tests that replay their findings on stable (`tests/fuzz_regressions.rs`).
//!
//! Each [`Target`] feeds bytes to one reader of outside data, exactly as a user's file reaches it:
//! parsers that take bytes get them directly; readers that take a path get a file written in a
//! per-process scratch directory under the name and extension that route it there. Inputs that
//! are several files (a checkpoint's weights and sidecar, a diffusers directory) are split at NUL
//! bytes, text parts first (JSON and TOML hold no NUL), the binary part last.
//!
//! A reader may return any error; what it must not do is panic, abort, or allocate without
//! bound. libFuzzer reports the first two as crashes and the last against `-rss_limit_mb`.
//! [`run`] returns the reader's error as text, so that the regression tests can also check that
//! every seed is an input its reader accepts.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

/// One reader of outside bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// `.npy` points (`data::io::parse_npy`, and the any-shape array reader).
    Npy,
    /// CSV points (`data::io::parse_csv`).
    Csv,
    /// A PNG picture (`images::read_images`).
    Png,
    /// A JPEG picture.
    Jpeg,
    /// An MNIST IDX images file, raw or gzipped.
    Idx,
    /// A CIFAR-10 binary batch.
    Cifar,
    /// A `.npz` archive of images.
    Npz,
    /// An MLP checkpoint: `model.json` NUL `model.safetensors`.
    MlpCheckpoint,
    /// A U-Net: its JSON sidecar NUL its `.safetensors`.
    UnetCheckpoint,
    /// A score_sde `.pth` (imported into [`small_unet`], both weight sets).
    ScoreSdePth,
    /// A sweep file (TOML).
    SweepToml,
    /// A U-Net config file (TOML).
    UnetConfigToml,
    /// A diffusers directory: `config.json` NUL `scheduler_config.json` NUL the safetensors.
    Diffusers,
}

impl Target {
    /// Every target, in the order of `docs/RELIABILITY.md`.
    pub const ALL: [Target; 13] = [
        Self::Npy,
        Self::Csv,
        Self::Png,
        Self::Jpeg,
        Self::Idx,
        Self::Cifar,
        Self::Npz,
        Self::MlpCheckpoint,
        Self::UnetCheckpoint,
        Self::ScoreSdePth,
        Self::SweepToml,
        Self::UnetConfigToml,
        Self::Diffusers,
    ];

    /// The fuzz target's name (`fuzz/fuzz_targets/<name>.rs`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Npy => "npy",
            Self::Csv => "csv",
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::Idx => "idx",
            Self::Cifar => "cifar",
            Self::Npz => "npz",
            Self::MlpCheckpoint => "mlp_checkpoint",
            Self::UnetCheckpoint => "unet_checkpoint",
            Self::ScoreSdePth => "score_sde_pth",
            Self::SweepToml => "sweep_toml",
            Self::UnetConfigToml => "unet_config_toml",
            Self::Diffusers => "diffusers",
        }
    }
}

/// The scratch directory of this process (created once).
fn scratch() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ce-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

/// Writes `bytes` to `name` in a fresh subdirectory `sub` of the scratch directory.
fn put(sub: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = scratch().join(sub);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch subdirectory");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

/// The U-Net shape of the `.pth` target and of the seeds (`fuzz/seeds/unet_config_toml/`): nf 4,
/// two levels, attention at 2×2, 4×4 RGB images, 2 GroupNorm groups.
pub fn small_unet() -> crate::images::UNetConfig {
    crate::images::UNetConfig {
        nf: 4,
        ch_mult: vec![1, 2],
        attn_resolutions: vec![2],
        centered: true,
        image_size: 4,
        groups: 2,
        ..crate::images::UNetConfig::tiny()
    }
}

/// Splits at the first `n − 1` NUL bytes (the last part keeps any further NULs).
fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0).collect();
    out.resize(n, &[]);
    out
}

/// Feeds `data` to the reader `target` names; every outcome but a panic or abort is fine. The
/// reader's error, if any, comes back as text.
pub fn run(target: Target, data: &[u8]) -> Result<(), String> {
    use crate::images::data::{ReadOptions, read_images};
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let images = |name: &str| {
        let path = put("images", name, data);
        read_images(&path, &ReadOptions::default())
            .map(|_| ())
            .map_err(|e| text(&e))
    };
    match target {
        Target::Npy => {
            let all = crate::data::io::parse_npy_array(data).map(|_| ());
            crate::data::io::parse_npy(data).map_err(|e| text(&e))?;
            all.map_err(|e| text(&e))
        }
        Target::Csv => crate::data::io::parse_csv(&String::from_utf8_lossy(data))
            .map(|_| ())
            .map_err(|e| text(&e)),
        Target::Png => images("picture.png"),
        Target::Jpeg => images("picture.jpg"),
        Target::Idx if data.starts_with(&[0x1f, 0x8b]) => images("train-images-idx3-ubyte.gz"),
        Target::Idx => images("train-images-idx3-ubyte"),
        Target::Cifar => images("data_batch_1.bin"),
        Target::Npz => images("images.npz"),
        Target::MlpCheckpoint => {
            let p = parts(data, 2);
            put("mlp", "model.json", p[0]);
            let dir = scratch().join("mlp");
            std::fs::write(dir.join("model.safetensors"), p[1]).expect("scratch file");
            crate::model::Checkpoint::load(&dir)
                .map(|_| ())
                .map_err(|e| text(&e))
        }
        Target::UnetCheckpoint => {
            let p = parts(data, 2);
            let json = put("unet", "unet.json", p[0]);
            let weights = json.with_extension("safetensors");
            std::fs::write(&weights, p[1]).expect("scratch file");
            crate::images::UNet::load(&weights, &Device::flex())
                .map(|_| ())
                .map_err(|e| text(&e))
        }
        Target::ScoreSdePth => {
            use crate::images::{WeightSet, import_score_sde};
            let path = put("pth", "checkpoint.pth", data);
            let config = small_unet();
            let model = import_score_sde(&path, &config, WeightSet::Model, &Device::flex());
            let ema = import_score_sde(&path, &config, WeightSet::Ema, &Device::flex());
            model.map_err(|e| text(&e))?;
            ema.map(|_| ()).map_err(|e| text(&e))
        }
        Target::SweepToml => crate::sweep::SweepSpec::parse(&String::from_utf8_lossy(data))
            .map(|_| ())
            .map_err(|e| text(&e)),
        Target::UnetConfigToml => {
            let path = put("config", "unet.toml", data);
            crate::images::open::read_config_toml(&path, "")
                .map(|_| ())
                .map_err(|e| text(&e))
        }
        Target::Diffusers => {
            use crate::images::diffusers_checkpoint::{
                CONFIG_FILE, SCHEDULER_FILE, WEIGHT_FILES, find_diffusers, open_diffusers,
            };
            let p = parts(data, 3);
            let config = put("diffusers", CONFIG_FILE, p[0]);
            let dir = config.parent().expect("scratch subdirectory").to_path_buf();
            std::fs::write(dir.join(SCHEDULER_FILE), p[1]).expect("scratch file");
            std::fs::write(dir.join(WEIGHT_FILES[0]), p[2]).expect("scratch file");
            let files = find_diffusers(&dir).ok_or("not a diffusers directory")?;
            open_diffusers(&files, &Device::flex())
                .map(|_| ())
                .map_err(|e| text(&e))
        }
    }
}
