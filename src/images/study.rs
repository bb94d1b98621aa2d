//! The image study, written once (paper Fig. 1, 10 and App. A.1): open a U-Net and its training
//! images, sample N images with each sampler from the same initial noise, measure TID(ε) on
//! pixels around the training set's nearest-neighbour scale, and build nearest-neighbour grids
//! for any sample. The `images` command and the app's Images view both run this and only
//! present its result.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::analysis::{
    Cancelled, ImageSource, Neighbour, NnRow, neighbour_counts_at, nn_grid, pixel_points,
    pixel_tid_reference, radii_around, reference_radius, sample_images, tid_subset_size,
};
use super::open::{OpenError, image_source, load_unet, training_source};
use super::train::{check_images_fit, image_shape};
use super::unet::Arch;
use super::{ImageError, ImageSet, Rgb8Image, WeightSet};
use crate::device::DeviceChoice;
use crate::diffusion::{SamplerConfig, SamplerKind};
use crate::metrics::{TidError, TidEstimate, TidProtocol};

/// The training images to compare with, when not what the checkpoint recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyData {
    /// `procedural` (the shapes set) or a file or directory (CIFAR, IDX, PNG/JPEG, .npy/.npz).
    pub name: String,
    /// Images to use (a random subset of a file; procedural default 20,000).
    pub n: Option<usize>,
    /// Side length (default: the model's; files are resized to it).
    pub size: Option<usize>,
    /// Channels (default: the model's; files are converted).
    pub channels: Option<usize>,
    /// Seed of the procedural set or of the subset.
    pub seed: u64,
}

/// The TID radii.
#[derive(Clone, Debug, PartialEq)]
pub enum Radii {
    /// This many radii from a third to three times the training set's median
    /// nearest-neighbour distance (below, most images have no neighbour and TID is
    /// degenerate; above, nearly every image is a neighbour).
    Around(usize),
    /// These radii (L2 on `[0, 1]` pixels; the paper's CIFAR-10 value is 0.2).
    Given(Vec<f64>),
}

/// What a study samples and measures.
#[derive(Clone, Debug, PartialEq)]
pub struct StudySettings {
    /// A `train-unet` directory, a U-Net `.safetensors`, or a score_sde `.pth`.
    pub checkpoint: PathBuf,
    /// TOML file of U-Net config fields (for a `.pth`).
    pub config: Option<PathBuf>,
    /// EMA or raw weights.
    pub weights: WeightSet,
    /// The training images; `None` for what the checkpoint recorded.
    pub data: Option<StudyData>,
    /// The samplers and their steps, in order (the first is the neighbour grids' query set).
    pub samplers: Vec<(SamplerKind, usize)>,
    /// Images per sampler.
    pub n: usize,
    /// Seed of the shared initial noise.
    pub seed: u64,
    /// Images of each set in the TID (paper: 2,000).
    pub tid_n: usize,
    /// TID repeats with fresh subsets (mean ± std).
    pub tid_repeats: usize,
    /// The Hill estimator's k.
    pub k: crate::metrics::HillK,
    /// The TID radii.
    pub radii: Radii,
    /// Images per sampling chunk.
    pub chunk: usize,
    /// Where to sample.
    pub device: DeviceChoice,
}

/// Where a study is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stage {
    /// Loading the U-Net.
    LoadingModel,
    /// Loading or drawing the training images.
    LoadingData,
    /// Sampling will take about `seconds` (one model evaluation timed on a chunk of up to 32
    /// images, times every sampler's evaluations).
    Estimated {
        /// Seconds of sampling expected.
        seconds: f64,
        /// Measured model evaluations (images) per second.
        rate: f64,
        /// Forward passes (one image at one step each) the sampling takes.
        evaluations: usize,
        /// The study runs on the CPU.
        on_cpu: bool,
    },
    /// Sampling set `set` of `n` images with `kind`; `done` of `total` image-steps.
    Sampling {
        /// Index of the sampler in the settings.
        set: usize,
        /// The sampler.
        kind: SamplerKind,
        /// Its steps.
        steps: usize,
        /// Images.
        n: usize,
        /// Image-steps done in this set.
        done: usize,
        /// Image-steps of this set.
        total: usize,
    },
    /// Measuring TID and neighbour counts.
    Measuring,
}

/// One sampler's images, as soon as they are drawn.
#[derive(Clone, Debug)]
pub struct SampledImages {
    /// The sampler.
    pub kind: SamplerKind,
    /// Its steps.
    pub steps: usize,
    /// The samples, pixels in `[0, 1]`.
    pub images: ImageSet,
    /// Wall time of the sampling.
    pub seconds: f64,
}

/// One sampler's images and what was measured on them.
#[derive(Clone, Debug)]
pub struct SampledSet {
    /// The sampler.
    pub kind: SamplerKind,
    /// Its steps.
    pub steps: usize,
    /// The samples, pixels in `[0, 1]`.
    pub images: ImageSet,
    /// Wall time of the sampling.
    pub seconds: f64,
    /// Other samples of the set within the reference radius of each sample.
    pub counts: Vec<u32>,
    /// TID(ε) against the training set (mean ± std over the protocol's repeats).
    pub tid: Vec<TidEstimate>,
}

/// A finished study.
#[derive(Clone, Debug)]
pub struct StudyResult {
    /// The model in a few words.
    pub model: String,
    /// Something the user should know about the model (e.g. no EMA weights).
    pub note: Option<String>,
    /// Where the training images came from.
    pub source: ImageSource,
    /// The training images in a few words.
    pub data: String,
    /// The device that sampled.
    pub device: String,
    /// The training images.
    pub train: ImageSet,
    /// One per sampler, in the settings' order.
    pub sets: Vec<SampledSet>,
    /// Median nearest-neighbour distance among `tid_n` training images: the reference radius.
    pub eps_ref: f64,
    /// The TID radii.
    pub eps: Vec<f64>,
    /// Images of each set in the TID.
    pub tid_n: usize,
}

/// Why a study stopped.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The settings ask for nothing.
    #[error("{0}")]
    Settings(&'static str),
    /// The U-Net or the record of its training images could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The training images could not be read.
    #[error("loading the training images ({what}): {error}")]
    Data {
        /// The source in words.
        what: String,
        /// Why.
        error: ImageError,
    },
    /// The training images do not fit the model.
    #[error("{0}")]
    Mismatch(String),
    /// The cancel flag was raised.
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    /// A sampler's state stopped being finite.
    #[error(transparent)]
    NonFinite(#[from] crate::diffusion::NonFiniteSamples),
    /// A sampler's settings that the model's process cannot take.
    #[error("sampler settings: {0}")]
    Sampler(#[from] crate::diffusion::SamplerError),
    /// TID could not be measured.
    #[error(transparent)]
    Tid(#[from] TidError),
}

/// Runs a study. `progress(stage, fraction)` follows it (`fraction` of all image-steps, the
/// study's time); `publish` gets each sampler's images as soon as they are drawn; `cancel`
/// stops it between sampling steps' chunks and before measuring.
pub fn run_study(
    s: &StudySettings,
    progress: &dyn Fn(Stage, f32),
    publish: &dyn Fn(&SampledImages),
    cancel: &AtomicBool,
) -> Result<StudyResult, StudyError> {
    if s.samplers.is_empty() {
        return Err(StudyError::Settings("no samplers"));
    }
    if s.n == 0 {
        return Err(StudyError::Settings(
            "the number of images must be positive",
        ));
    }
    progress(Stage::LoadingModel, 0.0);
    let dev = s.device.resolve();
    let loaded = load_unet(&s.checkpoint, s.config.as_deref(), s.weights, &dev.device)?;
    let net = loaded.net;
    let (size, channels) = (net.image_size(), net.channels());
    progress(Stage::LoadingData, 0.0);
    let data = s.data.as_ref().map(|d| {
        image_source(
            d.name.trim(),
            d.n,
            Some(d.size.unwrap_or(size)),
            Some(d.channels.unwrap_or(channels)),
            d.seed,
        )
    });
    let source = training_source(data, loaded.dir.as_deref())?;
    let train = source.load().map_err(|error| StudyError::Data {
        what: source.describe(),
        error,
    })?;
    check_images_fit(&net, &train).map_err(|e| StudyError::Mismatch(e.to_string()))?;
    let shape = image_shape(&net);
    let plan: Vec<(SamplerKind, usize)> =
        s.samplers.iter().map(|&(k, st)| (k, st.max(1))).collect();
    // Settings the process cannot take (PC and ALD on VP below 21 steps) are refused before any
    // sampling, not found as NaN images at the first step.
    let process = crate::diffusion::EpsilonModel::process(&net);
    for &(kind, steps) in &plan {
        SamplerConfig::new(kind)
            .with_steps(steps)
            .check_on(&process)?;
    }
    // How long sampling will take: one Euler step (one evaluation per image) of a chunk of up to
    // 32 images, after one untimed step (the first pays for allocations and warm caches).
    let probe = s.n.min(s.chunk).clamp(1, 32);
    let one = SamplerConfig::new(SamplerKind::OdeEuler).with_steps(1);
    let step = || {
        let mut quiet = |_: usize, _: usize| {};
        sample_images(
            &net,
            &one,
            probe,
            s.seed,
            probe,
            shape,
            &dev.device,
            &mut quiet,
            cancel,
        )
    };
    step()?;
    let start = Instant::now();
    step()?;
    let rate = probe as f64 / start.elapsed().as_secs_f64().max(1e-9);
    let evaluations: usize = plan
        .iter()
        .map(|&(k, st)| st * s.n * SamplerConfig::new(k).evaluations_per_step())
        .sum();
    progress(
        Stage::Estimated {
            seconds: evaluations as f64 / rate,
            rate,
            evaluations,
            on_cpu: dev.is_cpu,
        },
        0.0,
    );
    let total: usize = plan.iter().map(|(_, st)| st * s.n).sum();
    let mut done_before = 0usize;
    let mut sampled = Vec::with_capacity(plan.len());
    for (set, &(kind, steps)) in plan.iter().enumerate() {
        let cfg = SamplerConfig::new(kind).with_steps(steps);
        let start = Instant::now();
        let stage = |done: usize, of: usize| Stage::Sampling {
            set,
            kind,
            steps,
            n: s.n,
            done,
            total: of,
        };
        progress(stage(0, steps * s.n), done_before as f32 / total as f32);
        let images = sample_images(
            &net,
            &cfg,
            s.n,
            s.seed,
            s.chunk,
            shape,
            &dev.device,
            &mut |done, of| progress(stage(done, of), (done_before + done) as f32 / total as f32),
            cancel,
        )?;
        done_before += steps * s.n;
        let set = SampledImages {
            kind,
            steps,
            images,
            seconds: start.elapsed().as_secs_f64(),
        };
        publish(&set);
        sampled.push(set);
    }
    progress(Stage::Measuring, 1.0);
    // The reference radius on training subsets of the size TID compares (neighbour distances
    // shrink as sets grow).
    let tid_n = tid_subset_size(&train, &sampled[0].images, s.tid_n);
    let eps_ref = reference_radius(&train, tid_n);
    let eps = match &s.radii {
        Radii::Around(count) => radii_around(eps_ref, (*count).max(2)),
        Radii::Given(eps) => eps.clone(),
    };
    // One set of training subsets for every sampler.
    let protocol = TidProtocol {
        points: s.tid_n,
        repeats: s.tid_repeats,
        seed: s.seed.wrapping_add(7),
        k: s.k,
    };
    let reference = pixel_tid_reference(&train, &eps, protocol)?;
    let mut sets = Vec::with_capacity(sampled.len());
    for set in sampled {
        if cancel.load(Ordering::Relaxed) {
            return Err(StudyError::Cancelled(Cancelled {
                done: s.n,
                total: s.n,
            }));
        }
        let tid = reference.measure(&pixel_points(&set.images))?;
        let counts = neighbour_counts_at(&set.images, eps_ref);
        sets.push(SampledSet {
            kind: set.kind,
            steps: set.steps,
            images: set.images,
            seconds: set.seconds,
            counts,
            tid,
        });
    }
    Ok(StudyResult {
        model: match net.arch {
            Arch::ScoreSde(_) => format!(
                "{} ({:?} weights; {})",
                loaded.file.display(),
                s.weights,
                net.describe()
            ),
            Arch::Diffusers(_) => format!("{} ({})", loaded.file.display(), net.describe()),
        },
        note: loaded.note,
        // The source's words hold the count, except for a whole file read as it is.
        data: match &source {
            ImageSource::File { n: None, .. } => {
                format!("{} ({} images)", source.describe(), train.len())
            }
            _ => source.describe(),
        },
        source,
        device: dev.description,
        train,
        sets,
        eps_ref,
        eps,
        tid_n,
    })
}

impl StudyResult {
    /// The indices of set `set`'s samples, those with the most neighbours within the reference
    /// radius first (where a collapsed sampler piles its samples up), ties by index.
    pub fn densest(&self, set: usize) -> Vec<usize> {
        let counts = &self.sets[set].counts;
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
        order
    }

    /// The nearest-neighbour grid of sample `query = (set, index)` (paper Fig. 1): one row per
    /// sampled set (the query itself left out of its own) and one for the training set, each
    /// the query then its `k` nearest neighbours, tiles scaled by `scale`.
    pub fn neighbour_grid(&self, query: (usize, usize), k: usize, scale: usize) -> NeighbourGrid {
        let (qs, qi) = query;
        let mut rows: Vec<NnRow> = self
            .sets
            .iter()
            .enumerate()
            .map(|(j, s)| NnRow {
                set: &s.images,
                exclude: (j == qs).then_some(qi),
            })
            .collect();
        rows.push(NnRow {
            set: &self.train,
            exclude: None,
        });
        let (image, neighbours) = nn_grid(self.sets[qs].images.image(qi), &rows, k, scale);
        NeighbourGrid {
            query,
            image,
            neighbours,
        }
    }
}

/// A nearest-neighbour grid.
#[derive(Clone, Debug)]
pub struct NeighbourGrid {
    /// `(set, index)` of the query.
    pub query: (usize, usize),
    /// The picture: rows of the sampled sets, then the training set.
    pub image: Rgb8Image,
    /// Each row's neighbours, closest first.
    pub neighbours: Vec<Vec<Neighbour>>,
}

/// Fixtures for the study's tests and the Images view's.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::images::{TrainingRecord, UNet, UNetConfig, UNetTrainConfig};
    use std::path::Path;

    /// An untrained tiny U-Net (8×8) in a `train-unet` directory that records 300 procedural
    /// training images, and settings that study it with 40 images of each sampler.
    pub(crate) fn tiny_study(dir: &Path) -> StudySettings {
        std::fs::create_dir_all(dir).unwrap();
        let dev = burn::tensor::Device::flex();
        let config = UNetConfig {
            dropout: 0.0,
            ..UNetConfig::tiny()
        };
        UNet::init(&config, 3, &dev)
            .save(&dir.join("ema.safetensors"))
            .unwrap();
        TrainingRecord {
            data: ImageSource::Procedural {
                n: 300,
                size: 8,
                seed: 0,
            },
            train: UNetTrainConfig::default(),
            iteration: 0,
            loss: None,
            ms_per_iter: None,
        }
        .save(dir)
        .unwrap();
        StudySettings {
            checkpoint: dir.to_path_buf(),
            config: None,
            weights: WeightSet::Ema,
            data: None,
            samplers: vec![(SamplerKind::OdeEuler, 3), (SamplerKind::Sde, 4)],
            n: 40,
            seed: 1,
            tid_n: 40,
            tid_repeats: 2,
            k: crate::metrics::HillK::default(),
            radii: Radii::Around(25),
            chunk: 32,
            device: DeviceChoice::Cpu,
        }
    }
}

/// A duration in words: seconds, minutes or hours.
pub fn human_duration(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{seconds:.0} s")
    } else if seconds < 5400.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// Sampling longer than this on a CPU gets the advice to use a GPU.
pub const LONG_ON_CPU_SECONDS: f64 = 600.0;

/// What a study will cost, in one sentence: the forward passes, the rate measured on this device
/// and the time expected.
pub fn cost_sentence(seconds: f64, rate: f64, evaluations: usize) -> String {
    format!(
        "{evaluations} forward passes at {rate:.1} per second on this device: about {}",
        human_duration(seconds)
    )
}

impl Stage {
    /// For the estimate: its seconds, its sentence ([`cost_sentence`]) and whether it is long
    /// on a CPU ([`long_on_cpu`]).
    pub fn cost(&self) -> Option<(f64, String, bool)> {
        match *self {
            Stage::Estimated {
                seconds,
                rate,
                evaluations,
                on_cpu,
            } => Some((
                seconds,
                cost_sentence(seconds, rate, evaluations),
                long_on_cpu(seconds, on_cpu),
            )),
            _ => None,
        }
    }
}

/// Whether a study of `seconds` on this device deserves the advice to use a GPU.
pub fn long_on_cpu(seconds: f64, on_cpu: bool) -> bool {
    on_cpu && seconds > LONG_ON_CPU_SECONDS
}

impl From<super::analysis::SamplingStopped> for StudyError {
    fn from(e: super::analysis::SamplingStopped) -> Self {
        match e {
            super::analysis::SamplingStopped::Cancelled(c) => Self::Cancelled(c),
            super::analysis::SamplingStopped::NonFinite(n) => Self::NonFinite(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::tiny_study;
    use super::*;
    use std::sync::Mutex;

    /// A study on a checkpoint that does not exist ends with the loader's error, not a panic.
    #[test]
    fn a_missing_checkpoint_is_reported() {
        let s = StudySettings {
            checkpoint: "/nonexistent/unet".into(),
            ..tiny_study(&std::env::temp_dir().join(format!("ce-study-m-{}", std::process::id())))
        };
        let err = run_study(&s, &|_, _| {}, &|_| {}, &AtomicBool::new(false))
            .expect_err("no checkpoint")
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    /// End to end on an untrained tiny U-Net in a `train-unet` directory: the data is found
    /// from its record, both samplers give n images from the same noise, progress reaches the
    /// end, TID curves cover ε around the reference radius, and a cancelled study stops.
    #[test]
    fn a_study_runs_end_to_end_and_cancels() {
        let dir = std::env::temp_dir().join(format!("ce-images-study-{}", std::process::id()));
        let s = tiny_study(&dir);
        let last = Mutex::new(0.0f32);
        let estimate = Mutex::new(None);
        let published = Mutex::new(Vec::new());
        let r = run_study(
            &s,
            &|stage, f| {
                *last.lock().unwrap() = f;
                if let Stage::Estimated { seconds, rate, .. } = stage {
                    *estimate.lock().unwrap() = Some((seconds, rate));
                }
            },
            &|set| published.lock().unwrap().push(set.clone()),
            &AtomicBool::new(false),
        )
        .expect("study");
        // Each sampler's images were published as drawn, and are the result's.
        let published = published.into_inner().unwrap();
        assert_eq!(published.len(), 2);
        for (p, set) in published.iter().zip(&r.sets) {
            assert_eq!((p.kind, p.steps), (set.kind, set.steps));
            assert_eq!(p.images.pixels, set.images.pixels);
        }
        assert_eq!(*last.lock().unwrap(), 1.0);
        // The estimate counts every evaluation: 40 images × (3 Euler + 4 SDE steps), one each.
        let (seconds, rate) = estimate.into_inner().unwrap().expect("an estimate");
        assert!(
            rate > 0.0 && (seconds * rate - 280.0).abs() < 1e-6,
            "{seconds} s at {rate}/s"
        );
        assert_eq!(r.train.len(), 300);
        assert_eq!(r.tid_n, 40);
        assert_eq!(r.sets.len(), 2);
        for set in &r.sets {
            assert_eq!(set.images.len(), 40);
            assert_eq!(set.counts.len(), 40);
            assert_eq!(set.tid.len(), 25);
            let (lo, hi) = (set.tid[0].eps, set.tid[24].eps);
            assert!((lo * 3.0 - r.eps_ref).abs() < 1e-9 && (hi / 3.0 - r.eps_ref).abs() < 1e-9);
            assert!(set.images.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
        }
        assert_eq!(
            (r.sets[0].kind, r.sets[0].steps),
            (SamplerKind::OdeEuler, 3)
        );
        assert_eq!((r.sets[1].kind, r.sets[1].steps), (SamplerKind::Sde, 4));
        // The densest order is a permutation, most neighbours first.
        let order = r.densest(0);
        assert_eq!(order.len(), 40);
        assert!(
            order
                .windows(2)
                .all(|w| r.sets[0].counts[w[0]] >= r.sets[0].counts[w[1]])
        );
        // Other samplers of each family, and given radii.
        let other = StudySettings {
            // PC on VP needs 21 steps or more (fewer: its Langevin step is NaN).
            samplers: vec![
                (SamplerKind::Ddim, 3),
                (SamplerKind::PredictorCorrector, 21),
            ],
            radii: Radii::Given(vec![0.5, 1.0]),
            ..s.clone()
        };
        let r2 = run_study(&other, &|_, _| {}, &|_| {}, &AtomicBool::new(false))
            .expect("study with DDIM and PC");
        assert_eq!(r2.sets[0].kind, SamplerKind::Ddim);
        assert_eq!(r2.sets[1].kind, SamplerKind::PredictorCorrector);
        assert!(r2.sets.iter().all(|set| set.images.len() == 40));
        assert_eq!(r2.eps, vec![0.5, 1.0]);
        // PC at 4 steps on VP is refused before sampling, naming the minimum.
        let few = StudySettings {
            samplers: vec![(SamplerKind::PredictorCorrector, 4)],
            ..s.clone()
        };
        let refused = run_study(&few, &|_, _| {}, &|_| {}, &AtomicBool::new(false))
            .expect_err("PC at 4 steps")
            .to_string();
        assert!(refused.contains("21"), "{refused}");
        let err = run_study(&s, &|_, _| {}, &|_| {}, &AtomicBool::new(true))
            .expect_err("cancelled")
            .to_string();
        assert!(err.contains("cancelled"), "{err}");
        // Training images of another size than the model's are refused with both sizes named.
        let wrong = StudySettings {
            data: Some(StudyData {
                name: "procedural".into(),
                n: Some(50),
                size: Some(16),
                channels: None,
                seed: 0,
            }),
            ..s.clone()
        };
        let err = run_study(&wrong, &|_, _| {}, &|_| {}, &AtomicBool::new(false))
            .expect_err("16×16 images for an 8×8 model")
            .to_string();
        assert!(err.contains("16×16") && err.contains("8×8"), "{err}");
        // A grid: the query's set, the other set and the training set, k neighbours each.
        let grid = r.neighbour_grid((1, 5), 3, 2);
        assert_eq!(grid.neighbours.len(), 3);
        assert!(grid.neighbours.iter().all(|row| row.len() == 3));
        assert!(grid.neighbours[1].iter().all(|n| n.index != 5));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
