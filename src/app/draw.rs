//! The draw tool (issue #17): paint a 2D point set with the mouse, erase, undo, clear; the
//! drawing becomes a training set once it is saved as a `.npy` or CSV file.
//!
//! Painting adds points uniformly over a disc of the brush radius around the pointer, at the
//! density (points per second of painting) the panel sets, from a seeded generator: the same
//! strokes give the same points. Everything here is plain state driven by [`DrawTool::paint`]
//! and friends, so the view only maps pointer events to calls, and tests drive it through
//! events.

use std::path::Path;

use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::data::Points;
use crate::render::DataRect;

/// Most points a drawing holds.
pub const MAX_POINTS: usize = 200_000;
/// Undo steps kept.
pub const UNDO_DEPTH: usize = 64;

/// A drawing and its brush.
#[derive(Clone, Debug)]
pub struct DrawTool {
    /// The points drawn so far.
    pub points: Vec<[f32; 2]>,
    /// Brush radius, in data units.
    pub brush: f32,
    /// Points added per second of painting.
    pub density: f32,
    /// The brush erases instead of painting.
    pub erase: bool,
    /// The data area shown.
    pub bounds: DataRect,
    /// Seed of the brush's generator (reset by [`DrawTool::clear`]).
    pub seed: u64,
    /// Where "Train on drawing" saves (`.npy` or `.csv`); empty: the next free
    /// `drawings/drawing-NNN.npy`.
    pub save_path: String,
    /// Bumped on every change (the points layer's cache key).
    pub version: u64,
    undo: Vec<Vec<[f32; 2]>>,
    /// The points as last handed to the renderer, with the version they were taken at.
    shared: Option<(u64, std::sync::Arc<Vec<[f32; 2]>>)>,
    rng: StdRng,
    carry: f32,
    in_stroke: bool,
}

impl Default for DrawTool {
    fn default() -> Self {
        Self::new(0)
    }
}

impl DrawTool {
    /// An empty drawing on the data area of the built-in 2D datasets, brush from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            points: Vec::new(),
            brush: 0.15,
            density: 2000.0,
            erase: false,
            bounds: DataRect::new([-2.5, 2.5], [-2.5, 2.5]),
            seed,
            save_path: String::new(),
            version: 0,
            undo: Vec::new(),
            shared: None,
            rng: StdRng::seed_from_u64(seed),
            carry: 0.0,
            in_stroke: false,
        }
    }

    /// Whether a stroke is under way.
    pub fn in_stroke(&self) -> bool {
        self.in_stroke
    }

    /// Whether there is something to undo.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Starts a stroke: what it does is one undo step.
    pub fn begin_stroke(&mut self) {
        if self.in_stroke {
            return;
        }
        self.in_stroke = true;
        self.carry = 0.0;
        self.undo.push(self.points.clone());
        if self.undo.len() > UNDO_DEPTH {
            self.undo.remove(0);
        }
    }

    /// Ends the stroke under way.
    pub fn end_stroke(&mut self) {
        self.in_stroke = false;
    }

    /// Applies the brush at `at` for `dt` seconds: paints `density · dt` points (fractions carry
    /// over) in the disc, or erases every point in it. Starts a stroke if none is under way.
    pub fn paint(&mut self, at: [f32; 2], dt: f32) {
        self.begin_stroke();
        if self.erase {
            let r2 = self.brush * self.brush;
            let before = self.points.len();
            self.points
                .retain(|p| (p[0] - at[0]).powi(2) + (p[1] - at[1]).powi(2) > r2);
            if self.points.len() != before {
                self.version += 1;
            }
            return;
        }
        let want = self.carry + self.density.max(0.0) * dt.clamp(0.0, 0.25);
        let n = (want.floor() as usize).min(MAX_POINTS - self.points.len().min(MAX_POINTS));
        self.carry = want - want.floor();
        for _ in 0..n {
            // Uniform on the disc: radius ∝ √u.
            let r = self.brush * self.rng.random::<f32>().sqrt();
            let a = std::f32::consts::TAU * self.rng.random::<f32>();
            self.points.push([at[0] + r * a.cos(), at[1] + r * a.sin()]);
        }
        if n > 0 {
            self.version += 1;
        }
    }

    /// Takes back the last stroke (or clear).
    pub fn undo(&mut self) {
        if let Some(points) = self.undo.pop() {
            self.points = points;
            self.in_stroke = false;
            self.version += 1;
        }
    }

    /// Removes every point (one undo step) and restarts the brush's generator from the seed.
    pub fn clear(&mut self) {
        if self.points.is_empty() {
            return;
        }
        self.undo.push(std::mem::take(&mut self.points));
        self.rng = StdRng::seed_from_u64(self.seed);
        self.version += 1;
    }

    /// Replaces the drawing with `points` (the first two coordinates of each; one undo step),
    /// to edit an existing training set.
    pub fn load(&mut self, points: &Points) {
        self.undo.push(std::mem::take(&mut self.points));
        let step = points.n.div_ceil(MAX_POINTS).max(1);
        self.points = (0..points.n)
            .step_by(step)
            .map(|i| {
                let r = &points.data[i * points.d..(i + 1) * points.d];
                [r[0], r.get(1).copied().unwrap_or(0.0)]
            })
            .collect();
        self.version += 1;
    }

    /// The points for the renderer, copied only when the drawing changed since the last call.
    pub fn shared_points(&mut self) -> std::sync::Arc<Vec<[f32; 2]>> {
        match &self.shared {
            Some((v, points)) if *v == self.version => points.clone(),
            _ => {
                let points = std::sync::Arc::new(self.points.clone());
                self.shared = Some((self.version, points.clone()));
                points
            }
        }
    }

    /// The drawing as a point set `[n, 2]`.
    pub fn to_points(&self) -> Points {
        Points::new(
            self.points.len(),
            2,
            self.points.iter().flatten().copied().collect(),
        )
    }

    /// Writes the drawing to `path`: CSV (`x,y` header) when it ends in `.csv`, else `.npy`.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            let mut text = String::from("x,y\n");
            for p in &self.points {
                text.push_str(&format!("{},{}\n", p[0], p[1]));
            }
            std::fs::write(path, text)
        } else {
            let p = self.to_points();
            crate::data::write_npy(path, &[p.n, 2], &p.data)
        }
    }

    /// Where "Train on drawing" saves: the typed path, or the next free
    /// `drawings/drawing-NNN.npy` under `root`.
    pub fn target_path(&self, root: &Path) -> std::path::PathBuf {
        let typed = self.save_path.trim();
        if !typed.is_empty() {
            return typed.into();
        }
        (1..)
            .map(|i| root.join("drawings").join(format!("drawing-{i:03}.npy")))
            .find(|p| !p.exists())
            .expect("a free name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Painting for 0.5 s at 2,000 points/s adds 1,000 points, all within the brush; erase
    /// removes exactly those inside; undo restores each step; the same strokes from the same
    /// seed give the same points.
    #[test]
    fn paint_erase_undo_clear() {
        let mut t = DrawTool::new(4);
        for _ in 0..30 {
            t.paint([0.5, -0.5], 1.0 / 60.0);
        }
        t.end_stroke();
        assert_eq!(t.points.len(), 1000);
        assert!(
            t.points.iter().all(|p| {
                ((p[0] - 0.5).powi(2) + (p[1] + 0.5).powi(2)).sqrt() <= t.brush + 1e-6
            })
        );
        let mut again = DrawTool::new(4);
        for _ in 0..30 {
            again.paint([0.5, -0.5], 1.0 / 60.0);
        }
        assert_eq!(again.points, t.points);

        t.erase = true;
        t.paint([0.5, -0.5 + t.brush], 0.016);
        t.end_stroke();
        let r2 = t.brush * t.brush;
        assert!(
            t.points
                .iter()
                .all(|p| (p[0] - 0.5).powi(2) + (p[1] + 0.5 - t.brush).powi(2) > r2)
        );
        assert!(t.points.len() < 1000 && !t.points.is_empty());
        t.undo();
        assert_eq!(t.points.len(), 1000);
        t.clear();
        assert!(t.points.is_empty());
        t.undo();
        assert_eq!(t.points.len(), 1000);
        t.undo();
        assert!(t.points.is_empty() && !t.can_undo());
    }

    /// A saved drawing reads back as the same points, as CSV and as .npy.
    #[test]
    fn saved_drawings_read_back() {
        let mut t = DrawTool::new(1);
        t.paint([1.0, 1.0], 0.05);
        let dir = tempfile::tempdir().unwrap();
        for name in ["d.csv", "d.npy"] {
            let path = dir.path().join(name);
            t.save(&path).unwrap();
            let back = crate::data::read_points(&path).unwrap();
            assert_eq!((back.n, back.d), (100, 2));
            assert_eq!(back.data, t.to_points().data, "{name}");
        }
        assert!(
            t.target_path(dir.path())
                .ends_with("drawings/drawing-001.npy")
        );
    }
}
