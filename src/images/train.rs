//! Training a U-Net on an image set (SPEC §2): the DSM ε-prediction loss of the MLP path,
//! `‖ε_θ(α x_0 + σ ε, t) − ε‖² / d` with `t ~ U[t_min, t_max]`, Adam with gradient-norm clipping
//! and a linear learning-rate warm-up (score_sde's optimiser), on burn autodiff, and an optional
//! exponential moving average of the weights kept on the host.

use std::sync::Arc;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use super::data::{ImageSet, PixelScale};
use super::unet::UNet;
use crate::data::Points;
use crate::diffusion::loss::{Band, Diverged, NoisedBatch, dsm_loss_tensor};

/// Settings of a U-Net training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UNetTrainConfig {
    /// Adam learning rate after the warm-up (score_sde CIFAR-10: 2e-4; small models take 1e-3).
    pub lr: f64,
    /// Images per batch (drawn from the set with replacement).
    pub batch: usize,
    /// Iterations over which the learning rate ramps linearly from 0 to `lr` (score_sde: 5,000).
    pub warmup: u64,
    /// Clip the gradient to this global L2 norm (score_sde: 1); `None` does not clip.
    pub grad_clip: Option<f32>,
    /// Decay of the exponential moving average of the weights (score_sde: 0.9999); `None` keeps
    /// no average. The decay in use is `min(decay, (1 + i)/(10 + i))` so early steps count.
    pub ema_decay: Option<f64>,
    /// Seed of the batches (the initial weights come with the network).
    pub seed: u64,
}

impl Default for UNetTrainConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            batch: 64,
            warmup: 100,
            grad_clip: Some(1.0),
            ema_decay: Some(0.999),
            seed: 0,
        }
    }
}

/// Why U-Net training stopped or could not start.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UNetTrainError {
    /// The loss became NaN or infinite; the weights (and the average) are those before that step.
    #[error(transparent)]
    Diverged(#[from] Diverged),
    /// The images do not fit the network.
    #[error("cannot train: {0}")]
    Images(ImageFitError),
    /// The settings cannot be trained.
    #[error("cannot train: {0}")]
    Config(String),
}

/// Images of another size or channel count than a U-Net's ([`check_images_fit`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the images ({name}) are {height}×{width} with {channels} channel(s), the U-Net expects \
     {size}×{size} with {expected_channels}"
)]
pub struct ImageFitError {
    /// The image set's name.
    pub name: String,
    /// Its image height.
    pub height: usize,
    /// Its image width.
    pub width: usize,
    /// Its channels.
    pub channels: usize,
    /// The U-Net's image side.
    pub size: usize,
    /// The U-Net's channels.
    pub expected_channels: usize,
}

/// Why a training record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TrainingRecordError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The `training.json` file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a training record.
    #[error("{path}: {source}")]
    Parse {
        /// The `training.json` file.
        path: std::path::PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// A U-Net training run in progress.
pub struct UNetTrainer {
    config: UNetTrainConfig,
    /// The network on the autodiff device (taken out only while the optimiser steps).
    net: Option<UNet>,
    optim: ModuleOptimizer,
    /// Training images as model values `[n, C·H·W]`.
    data: Arc<Points>,
    rng: StdRng,
    iteration: u64,
    device: Device,
    /// The weight average, one host vector per float parameter (visit order).
    ema: Option<Vec<Vec<f32>>>,
}

/// How a network with this config expects pixels: `[−1, 1]` when `centered`, else `[0, 1]`.
pub fn pixel_scale(net: &UNet) -> PixelScale {
    if net.takes_centered() {
        PixelScale::Centered
    } else {
        PixelScale::Unit
    }
}

/// The images `net` works on: its channels and size, and how its values map to pixels.
pub fn image_shape(net: &UNet) -> super::ImageShape {
    super::ImageShape {
        channels: net.channels(),
        height: net.image_size(),
        width: net.image_size(),
        scale: pixel_scale(net),
    }
}

/// Checks that `images` have the size and channels of `net`'s config.
pub fn check_images_fit(net: &UNet, images: &ImageSet) -> Result<(), ImageFitError> {
    let (channels, size) = (net.channels(), net.image_size());
    if images.channels != channels || images.height != size || images.width != size {
        return Err(ImageFitError {
            name: images.name.clone(),
            height: images.height,
            width: images.width,
            channels: images.channels,
            size,
            expected_channels: channels,
        });
    }
    Ok(())
}

impl UNetTrainer {
    /// Sets up a run of `net` (any device; it is moved to `device`'s autodiff twin) on `images`,
    /// scaled as the network's `centered` flag expects. The average starts at `net`'s weights
    /// unless `ema_start` gives others (a resumed run's average, same architecture).
    pub fn new(
        net: UNet,
        images: &ImageSet,
        config: UNetTrainConfig,
        device: &Device,
        ema_start: Option<&UNet>,
    ) -> Result<Self, UNetTrainError> {
        check_images_fit(&net, images).map_err(UNetTrainError::Images)?;
        if images.is_empty() || config.batch == 0 {
            return Err(UNetTrainError::Config(
                "the image set and the batch must be non-empty".into(),
            ));
        }
        if !(config.lr > 0.0 && config.lr.is_finite()) {
            return Err(UNetTrainError::Config(format!(
                "learning rate {} must be positive",
                config.lr
            )));
        }
        if let Some(d) = config.ema_decay.filter(|d| !(0.0..1.0).contains(d)) {
            return Err(UNetTrainError::Config(format!(
                "EMA decay {d} must be in [0, 1)"
            )));
        }
        let data = Arc::new(images.to_points(pixel_scale(&net)));
        let device = device.clone().autodiff();
        let ema = config.ema_decay.map(|_| match ema_start {
            Some(start) => host_params(start),
            None => host_params(&net),
        });
        if let Some(e) = &ema {
            let n_params: usize = e.iter().map(Vec::len).sum();
            if n_params != net.num_params() {
                return Err(UNetTrainError::Config(
                    "the starting average does not match the network".into(),
                ));
            }
        }
        let net = net.fork(&device).train();
        let mut adam = AdamConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.999)
            .with_epsilon(1e-8);
        if let Some(c) = config.grad_clip {
            adam = adam.with_grad_clipping(Some(GradientClippingConfig::Norm(c)));
        }
        let rng = StdRng::seed_from_u64(config.seed ^ 0x1A6E_5EED);
        Ok(Self {
            optim: adam.init(),
            config,
            net: Some(net),
            data,
            rng,
            iteration: 0,
            device,
            ema,
        })
    }

    /// Continues counting from `iteration` (a resumed run; Adam's moments start from zero).
    pub fn set_iteration(&mut self, iteration: u64) {
        self.iteration = iteration;
    }

    /// Iterations done.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The settings.
    pub fn config(&self) -> &UNetTrainConfig {
        &self.config
    }

    /// The learning rate of the next step (after the warm-up: the configured one).
    pub fn current_lr(&self) -> f64 {
        let w = self.config.warmup;
        if w == 0 {
            self.config.lr
        } else {
            self.config.lr * ((self.iteration + 1) as f64 / w as f64).min(1.0)
        }
    }

    /// One Adam step on a fresh batch; returns its loss. On a NaN or infinite loss nothing is
    /// updated and [`UNetTrainError::Diverged`] is returned.
    pub fn step(&mut self) -> Result<f64, UNetTrainError> {
        let net = self.net.take().expect("network present between steps");
        let p = net.process;
        let band = Band::full(&p);
        let batch = NoisedBatch::draw(&self.data, &p, band, self.config.batch, &mut self.rng);
        let loss_t = dsm_loss_tensor(&net, &batch, &self.device); // [1]
        let loss = loss_t.clone().into_scalar::<f32>() as f64;
        let next = self.iteration + 1;
        if !loss.is_finite() {
            self.net = Some(net);
            return Err(UNetTrainError::Diverged(Diverged {
                iteration: next,
                loss,
                last_good: self.iteration,
            }));
        }
        let grads = GradientsParams::from_grads(loss_t.backward(), &net);
        let lr = self.current_lr();
        let net = self.optim.step(lr, net, grads);
        if let (Some(ema), Some(decay)) = (&mut self.ema, self.config.ema_decay) {
            let decay = decay.min((1.0 + next as f64) / (10.0 + next as f64)) as f32;
            let current = host_params(&net);
            for (e, c) in ema.iter_mut().zip(&current) {
                for (a, &b) in e.iter_mut().zip(c) {
                    *a = decay * *a + (1.0 - decay) * b;
                }
            }
        }
        self.net = Some(net);
        self.iteration = next;
        Ok(loss)
    }

    /// The current weights as an inference network on `device` (no autodiff, no dropout).
    pub fn model(&self, device: &Device) -> UNet {
        self.net
            .as_ref()
            .expect("network present between steps")
            .valid()
            .to_device(device)
    }

    /// The weight average as an inference network on `device`, if one is kept.
    pub fn ema_model(&self, device: &Device) -> Option<UNet> {
        let ema = self.ema.as_ref()?;
        let mut setter = SetParams {
            values: ema.iter(),
            device: device.clone(),
        };
        Some(self.model(device).map(&mut setter))
    }
}

/// Every float parameter as a host vector, in visit order.
fn host_params(net: &UNet) -> Vec<Vec<f32>> {
    let mut v = CollectParams(Vec::new());
    net.visit(&mut v);
    v.0
}

struct CollectParams(Vec<Vec<f32>>);

impl ModuleVisitor for CollectParams {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = param.val().into_data().convert::<f32>();
        self.0
            .push(data.try_into_vec::<f32>().expect("f32 parameter data"));
    }
}

/// Replaces every float parameter with the next host vector (same visit order and sizes).
struct SetParams<'a, I: Iterator<Item = &'a Vec<f32>>> {
    values: I,
    device: Device,
}

impl<'a, I: Iterator<Item = &'a Vec<f32>>> ModuleMapper for SetParams<'a, I> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let values = self.values.next().expect("one value vector per parameter");
        let device = self.device.clone();
        param.map(|t| {
            let shape = t.shape();
            Tensor::from_data(TensorData::new(values.clone(), shape), &device)
        })
    }
}

/// File name of the training record in a `train-unet` directory.
pub const TRAINING_RECORD: &str = "training.json";

/// What a `train-unet` directory says about its run, next to `model.safetensors` (and
/// `ema.safetensors`): the data source (so that analyses find the training set again), the
/// settings, the iteration count and the last loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Where the training images come from.
    pub data: super::analysis::ImageSource,
    /// Training settings.
    pub train: UNetTrainConfig,
    /// Iterations done.
    pub iteration: u64,
    /// Mean loss of the last iterations.
    pub loss: Option<f64>,
    /// Milliseconds per iteration in the last session.
    pub ms_per_iter: Option<f64>,
}

impl TrainingRecord {
    /// Writes `dir/training.json`.
    pub fn save(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let text = serde_json::to_string_pretty(self).expect("record serialises");
        std::fs::write(dir.join(TRAINING_RECORD), text)
    }

    /// Reads `dir/training.json`.
    pub fn load(dir: &std::path::Path) -> Result<Self, TrainingRecordError> {
        let path = dir.join(TRAINING_RECORD);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) => return Err(TrainingRecordError::Io { path, source }),
        };
        serde_json::from_str(&text).map_err(|source| TrainingRecordError::Parse { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::{ShapesConfig, UNetConfig, generate_shapes};

    /// A tiny U-Net on 8×8 shapes: over 40 steps the DSM loss drops well below its start (a
    /// fresh score_sde net outputs ≈ 0, so the loss starts near E‖ε‖²/d = 1).
    #[test]
    fn tiny_unet_loss_drops() {
        let dev = Device::flex();
        let mut c = UNetConfig::tiny();
        c.dropout = 0.0;
        let (images, _) = generate_shapes(
            96,
            1,
            &ShapesConfig {
                size: 8,
                ..Default::default()
            },
        );
        let net = UNet::init(&c, 0, &dev);
        let config = UNetTrainConfig {
            lr: 2e-3,
            batch: 16,
            warmup: 5,
            seed: 1,
            ..Default::default()
        };
        let mut tr = UNetTrainer::new(net, &images, config, &dev, None).unwrap();
        let losses: Vec<f64> = (0..40).map(|_| tr.step().unwrap()).collect();
        let first = losses[..5].iter().sum::<f64>() / 5.0;
        let last = losses[30..].iter().sum::<f64>() / 10.0;
        assert!(first > 0.7, "start {first}");
        assert!(last < 0.6 * first, "loss {first} -> {last}: {losses:?}");
        assert_eq!(tr.iteration(), 40);
        // The average differs from the raw weights but has their shape.
        let ema = tr.ema_model(&dev).unwrap();
        let model = tr.model(&dev);
        assert_eq!(ema.num_params(), model.num_params());
        assert_ne!(host_params(&ema), host_params(&model));
    }

    /// The inference copy (and its save/load round trip) computes the same loss as the network
    /// being trained, on one fixed batch.
    #[test]
    fn inference_copy_matches_trained_network() {
        let dev = Device::flex();
        let mut c = UNetConfig::tiny();
        c.dropout = 0.0;
        let (images, _) = generate_shapes(
            64,
            1,
            &ShapesConfig {
                size: 8,
                ..Default::default()
            },
        );
        let config = UNetTrainConfig {
            batch: 16,
            warmup: 0,
            ..Default::default()
        };
        let mut tr =
            UNetTrainer::new(UNet::init(&c, 0, &dev), &images, config, &dev, None).unwrap();
        for _ in 0..20 {
            tr.step().unwrap();
        }
        let p = crate::diffusion::NoiseProcess::vp();
        let batch = NoisedBatch::draw(
            &tr.data,
            &p,
            Band::full(&p),
            64,
            &mut StdRng::seed_from_u64(5),
        );
        let net = tr.net.as_ref().unwrap();
        let trained = dsm_loss_tensor(net, &batch, &tr.device).into_scalar::<f32>();
        let model = tr.model(&dev);
        let copy = dsm_loss_tensor(&model, &batch, &dev).into_scalar::<f32>();
        let fresh = dsm_loss_tensor(&UNet::init(&c, 0, &dev), &batch, &dev).into_scalar::<f32>();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        model.save(&path).unwrap();
        let loaded = UNet::load(&path, &dev).unwrap();
        let reloaded = dsm_loss_tensor(&loaded, &batch, &dev).into_scalar::<f32>();
        eprintln!("trained {trained} copy {copy} reloaded {reloaded} fresh {fresh}");
        assert!((trained - copy).abs() < 1e-4 * trained.abs().max(1.0));
        assert!((reloaded - copy).abs() < 1e-6);
        assert!(copy < 0.8 * fresh);
    }

    /// Images of another size are refused with a message naming both sizes; NaN pixels stop
    /// training with the last good weights kept.
    #[test]
    fn mismatch_and_divergence_are_clear() {
        let dev = Device::flex();
        let c = UNetConfig::tiny();
        let (images, _) = generate_shapes(8, 1, &ShapesConfig::default()); // 16×16
        let err = UNetTrainer::new(
            UNet::init(&c, 0, &dev),
            &images,
            UNetTrainConfig::default(),
            &dev,
            None,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("16×16"), "{err}");
        assert!(err.to_string().contains("8×8"), "{err}");

        let mut bad = images.resize(8, 8);
        bad.pixels.iter_mut().for_each(|v| *v = f32::NAN);
        let net = UNet::init(&c, 0, &dev);
        let before = host_params(&net);
        let mut tr = UNetTrainer::new(net, &bad, UNetTrainConfig::default(), &dev, None).unwrap();
        let err = tr.step().unwrap_err();
        assert!(matches!(
            err,
            UNetTrainError::Diverged(Diverged {
                iteration: 1,
                last_good: 0,
                ..
            })
        ));
        assert_eq!(host_params(&tr.model(&dev)), before);
    }
}
