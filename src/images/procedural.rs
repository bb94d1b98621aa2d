//! A built-in image set for demos and tests: small RGB pictures of a coloured shape on a plain
//! background, with anti-aliased edges and jittered position and size.
//!
//! There are few discrete attributes (4 shapes × 4 colours × 3 backgrounds = 48 classes), so a
//! sampler that collapses onto attributes (paper Fig. 1) produces visible near-duplicates, while
//! the jitter keeps every training image distinct. Generation is deterministic in the seed and
//! fast (20,000 images of 16×16 in a few milliseconds per thousand).

use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::ImageSet;

/// The shape drawn in an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A disc.
    Circle,
    /// An axis-aligned square.
    Square,
    /// An equilateral triangle pointing up.
    Triangle,
    /// A square turned by 45°.
    Diamond,
}

impl Shape {
    /// Every shape, in label order.
    pub const ALL: [Shape; 4] = [
        Shape::Circle,
        Shape::Square,
        Shape::Triangle,
        Shape::Diamond,
    ];
}

/// The colour of the shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Colour {
    /// Red.
    Red,
    /// Green.
    Green,
    /// Blue.
    Blue,
    /// Yellow.
    Yellow,
}

impl Colour {
    /// Every colour, in label order.
    pub const ALL: [Colour; 4] = [Colour::Red, Colour::Green, Colour::Blue, Colour::Yellow];

    /// The colour as RGB in `[0, 1]`.
    pub fn rgb(self) -> [f32; 3] {
        match self {
            Colour::Red => [0.90, 0.17, 0.15],
            Colour::Green => [0.20, 0.70, 0.25],
            Colour::Blue => [0.20, 0.35, 0.90],
            Colour::Yellow => [0.95, 0.82, 0.15],
        }
    }
}

/// The background of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Background {
    /// Near black.
    Black,
    /// Mid gray.
    Gray,
    /// Near white.
    White,
}

impl Background {
    /// Every background, in label order.
    pub const ALL: [Background; 3] = [Background::Black, Background::Gray, Background::White];

    /// The background as RGB in `[0, 1]`.
    pub fn rgb(self) -> [f32; 3] {
        match self {
            Background::Black => [0.06, 0.06, 0.08],
            Background::Gray => [0.50, 0.50, 0.50],
            Background::White => [0.94, 0.94, 0.92],
        }
    }
}

/// What one procedural image shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShapeAttributes {
    /// The shape.
    pub shape: Shape,
    /// The shape's colour.
    pub colour: Colour,
    /// The background colour.
    pub background: Background,
    /// The shape's centre `(x, y)` in pixels from the top-left corner of the image.
    pub centre: (f32, f32),
    /// The shape's radius in pixels (a circle's radius; other shapes are about as large).
    pub radius: f32,
}

impl ShapeAttributes {
    /// Number of distinct classes, `shapes × colours × backgrounds`.
    pub const CLASSES: u32 = 4 * 4 * 3;

    /// The class label `(shape · 4 + colour) · 3 + background`, in `0..CLASSES`.
    pub fn class(&self) -> u32 {
        let s = Shape::ALL
            .iter()
            .position(|x| *x == self.shape)
            .unwrap_or(0) as u32;
        let c = Colour::ALL
            .iter()
            .position(|x| *x == self.colour)
            .unwrap_or(0) as u32;
        let b = Background::ALL
            .iter()
            .position(|x| *x == self.background)
            .unwrap_or(0) as u32;
        (s * 4 + c) * 3 + b
    }
}

/// How procedural images are drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapesConfig {
    /// Image width and height in pixels.
    pub size: usize,
    /// The centre moves up to this fraction of the size from the middle, on each axis.
    pub position_jitter: f32,
    /// Smallest radius, as a fraction of the size.
    pub min_radius: f32,
    /// Largest radius, as a fraction of the size.
    pub max_radius: f32,
}

impl Default for ShapesConfig {
    fn default() -> Self {
        Self {
            size: 16,
            position_jitter: 0.125,
            min_radius: 0.22,
            max_radius: 0.34,
        }
    }
}

/// `n` procedural RGB images of `config.size²` drawn from `seed`, with their attributes; the
/// set's labels are [`ShapeAttributes::class`]. Classes are balanced (each appears `⌊n/48⌋` or
/// `⌈n/48⌉` times) in a random order; the same `(n, seed, config)` always gives the same images.
pub fn generate_shapes(
    n: usize,
    seed: u64,
    config: &ShapesConfig,
) -> (ImageSet, Vec<ShapeAttributes>) {
    let size = config.size.max(1);
    let s = size as f32;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut classes: Vec<u32> = (0..n as u32)
        .map(|i| i % ShapeAttributes::CLASSES)
        .collect();
    // Fisher–Yates with the seeded generator (the order is part of the output).
    for i in (1..classes.len()).rev() {
        classes.swap(i, rng.random_range(0..=i));
    }
    let (r_lo, r_hi) = (
        config.min_radius.min(config.max_radius),
        config.max_radius.max(config.min_radius),
    );
    let attributes: Vec<ShapeAttributes> = classes
        .iter()
        .map(|&k| {
            let jx: f32 = rng.random_range(-1.0..=1.0);
            let jy: f32 = rng.random_range(-1.0..=1.0);
            let rr: f32 = rng.random_range(0.0..=1.0);
            ShapeAttributes {
                shape: Shape::ALL[(k / 12) as usize],
                colour: Colour::ALL[((k / 3) % 4) as usize],
                background: Background::ALL[(k % 3) as usize],
                centre: (
                    0.5 * s + jx * config.position_jitter * s,
                    0.5 * s + jy * config.position_jitter * s,
                ),
                radius: (r_lo + rr * (r_hi - r_lo)) * s,
            }
        })
        .collect();
    let per = 3 * size * size;
    let mut pixels = vec![0.0f32; n * per];
    pixels
        .par_chunks_mut(per.max(1))
        .zip(&attributes)
        .for_each(|(img, a)| draw(img, size, a));
    let labels = attributes.iter().map(ShapeAttributes::class).collect();
    let set = ImageSet::new("shapes", 3, size, size, pixels, Some(labels));
    (set, attributes)
}

/// Draws one image `[3, size, size]`: the background, then the shape, each pixel covered by
/// `clamp(0.5 − d, 0, 1)` where `d` is the signed distance (in pixels) from the pixel's centre to
/// the shape's edge; this is a one-pixel-wide anti-aliased edge.
fn draw(img: &mut [f32], size: usize, a: &ShapeAttributes) {
    let bg = a.background.rgb();
    let fg = a.colour.rgb();
    let hw = size * size;
    for y in 0..size {
        for x in 0..size {
            let px = x as f32 + 0.5 - a.centre.0;
            let py = y as f32 + 0.5 - a.centre.1;
            let d = signed_distance(a.shape, px, py, a.radius);
            let cover = (0.5 - d).clamp(0.0, 1.0);
            for c in 0..3 {
                img[c * hw + y * size + x] = bg[c] + cover * (fg[c] - bg[c]);
            }
        }
    }
}

/// Signed distance from `(x, y)` (image axes: y down, relative to the centre) to the shape of
/// radius `r`: negative inside.
fn signed_distance(shape: Shape, x: f32, y: f32, r: f32) -> f32 {
    let sdf_box = |x: f32, y: f32, half: f32| {
        let (qx, qy) = (x.abs() - half, y.abs() - half);
        qx.max(0.0).hypot(qy.max(0.0)) + qx.max(qy).min(0.0)
    };
    match shape {
        Shape::Circle => x.hypot(y) - r,
        Shape::Square => sdf_box(x, y, 0.85 * r),
        Shape::Diamond => {
            let s = std::f32::consts::FRAC_1_SQRT_2;
            sdf_box(s * (x + y), s * (y - x), 0.75 * r)
        }
        Shape::Triangle => {
            // Inigo Quilez's equilateral triangle (y up, centroid at the origin, half side `h`).
            let h = 0.95 * r;
            let k = 3.0f32.sqrt();
            let (mut px, mut py) = (x.abs() - h, -y + h / k);
            if px + k * py > 0.0 {
                (px, py) = ((px - k * py) / 2.0, (-k * px - py) / 2.0);
            }
            px -= px.clamp(-2.0 * h, 0.0);
            -px.hypot(py) * py.signum()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_in_the_seed() {
        let cfg = ShapesConfig::default();
        let (a, attrs_a) = generate_shapes(200, 7, &cfg);
        let (b, attrs_b) = generate_shapes(200, 7, &cfg);
        assert_eq!(a, b);
        assert_eq!(attrs_a, attrs_b);
        let (c, _) = generate_shapes(200, 8, &cfg);
        assert_ne!(a.pixels, c.pixels);
        assert_eq!((a.len(), a.channels, a.height, a.width), (200, 3, 16, 16));
        let (lo, hi) = a.pixel_range();
        assert!(lo >= 0.0 && hi <= 1.0, "{lo} {hi}");
    }

    #[test]
    fn classes_are_balanced_and_labels_match_attributes() {
        let n = 20_000;
        let start = std::time::Instant::now();
        let (set, attrs) = generate_shapes(n, 1, &ShapesConfig::default());
        // Generous: a few milliseconds in an optimised build, much less than a second.
        assert!(start.elapsed().as_secs_f64() < 5.0, "{:?}", start.elapsed());
        let labels = set.labels.as_ref().unwrap();
        let mut counts = [0usize; ShapeAttributes::CLASSES as usize];
        for (l, a) in labels.iter().zip(&attrs) {
            assert_eq!(*l, a.class());
            counts[*l as usize] += 1;
        }
        let k = ShapeAttributes::CLASSES as usize;
        assert!(
            counts.iter().all(|&c| c == n / k || c == n / k + 1),
            "{counts:?}"
        );
        // Every class index decodes to a distinct attribute triple.
        let mut seen = std::collections::HashSet::new();
        for a in &attrs {
            seen.insert((a.shape, a.colour, a.background));
        }
        assert_eq!(seen.len(), k);
    }

    #[test]
    fn shape_in_the_middle_background_in_the_corner() {
        let (set, attrs) = generate_shapes(96, 3, &ShapesConfig::default());
        let hw = 16 * 16;
        for (i, a) in attrs.iter().enumerate() {
            let img = set.image(i);
            let (cx, cy) = (a.centre.0 as usize, a.centre.1 as usize);
            let fg = a.colour.rgb();
            let bg = a.background.rgb();
            for c in 0..3 {
                assert!((img[c * hw + cy * 16 + cx] - fg[c]).abs() < 1e-6, "{a:?}");
                assert!((img[c * hw] - bg[c]).abs() < 1e-6, "{a:?}");
            }
            // Anti-aliasing: some pixels are partly covered.
            let partial = (0..hw).filter(|&p| {
                let t = (img[p] - bg[0]) / (fg[0] - bg[0]);
                t > 0.02 && t < 0.98
            });
            assert!(partial.count() > 0, "{a:?}");
        }
    }

    /// The set makes collapse visible only if images of one class are nearer to each other than
    /// to images of other classes.
    #[test]
    fn classes_are_tighter_than_the_whole_set() {
        let (set, attrs) = generate_shapes(480, 5, &ShapesConfig::default());
        let dist = |i: usize, j: usize| -> f32 {
            set.image(i)
                .iter()
                .zip(set.image(j))
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        let (mut within, mut nw, mut between, mut nb) = (0.0, 0, 0.0, 0);
        for i in 0..set.len() {
            for j in i + 1..set.len() {
                if attrs[i].class() == attrs[j].class() {
                    within += dist(i, j);
                    nw += 1;
                } else {
                    between += dist(i, j);
                    nb += 1;
                }
            }
        }
        let (within, between) = (within / nw as f32, between / nb as f32);
        assert!(within < 0.6 * between, "within {within}, between {between}");
    }
}
