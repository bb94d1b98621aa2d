//! GPU rendering of plot primitives with wgpu, drawn inside egui through paint callbacks.
//!
//! Plain data in, pixels out: this layer knows nothing of burn or of the rest of the crate.
//! Each primitive module ([`points`], [`segments`], [`heatmap`], [`mesh`]) has
//! - a GPU-level API usable without egui (`XxxPipeline` built once per device and target
//!   format, `XxxBuffers` holding one view's layers: `prepare` uploads, `paint` draws), and
//! - a `callback(rect, view_id, bounds, layers)` that returns an [`egui::PaintCallback`].
//!
//! Call [`install`] once at start-up (from `cc.wgpu_render_state`) so that the callbacks
//! find their pipelines in egui-wgpu's `callback_resources`.
//!
//! Colours are sRGB-encoded values in 0..1 (as `egui::Color32` and matplotlib's colour maps),
//! written unchanged to egui's non-sRGB framebuffer; the shaders output premultiplied alpha
//! and blend with `(One, OneMinusSrcAlpha)`, as egui does. Sizes and widths in `*_px` fields
//! are in egui points (logical pixels): physical pixels times `pixels_per_point`.

pub mod colormap;
pub mod heatmap;
pub mod mesh;
pub mod points;
pub mod segments;
mod util;
mod view;

use eframe::{egui, egui_wgpu};

pub use colormap::Colormap;

/// Every shader as the pipelines compile it, by name (for validation tests).
pub const SHADERS: [(&str, &str); 5] = [
    ("colormap", colormap::SHADER),
    ("points", points::SHADER),
    ("segments", segments::SHADER),
    ("heatmap", heatmap::SHADER),
    ("mesh", mesh::SHADER),
];

/// Data-space rectangle shown in a view: x range and y range (y up).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DataRect {
    /// Data x at the left and at the right edge.
    pub x: [f32; 2],
    /// Data y at the bottom and at the top edge.
    pub y: [f32; 2],
}

impl DataRect {
    /// A rectangle from its x range (left, right) and y range (bottom, top).
    pub fn new(x: [f32; 2], y: [f32; 2]) -> Self {
        Self { x, y }
    }

    /// Maps data → NDC of the viewport: the rectangle's corners go to (±1, ±1), y up.
    pub fn to_ndc(&self, p: [f32; 2]) -> [f32; 2] {
        [
            2.0 * (p[0] - self.x[0]) / (self.x[1] - self.x[0]) - 1.0,
            2.0 * (p[1] - self.y[0]) / (self.y[1] - self.y[0]) - 1.0,
        ]
    }
}

/// How data space lands on the render target in one draw: the affine data → NDC map and the
/// viewport's size in physical pixels (which turns pixel sizes into NDC).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewTransform {
    /// Per-axis factor of the map: `ndc = p * scale + offset`.
    pub scale: [f32; 2],
    /// Per-axis offset of the map: `ndc = p * scale + offset`.
    pub offset: [f32; 2],
    /// Size of the viewport (the NDC square [-1, 1]²) in physical pixels.
    pub viewport_px: [f32; 2],
    /// Physical pixels per egui point; `*_px` sizes of layers are multiplied by it.
    pub pixels_per_point: f32,
}

impl ViewTransform {
    /// `bounds` fills the whole viewport of `viewport_px` physical pixels, one pixel per point.
    pub fn new(bounds: DataRect, viewport_px: [f32; 2]) -> Self {
        let sx = 2.0 / nonzero_span(bounds.x);
        let sy = 2.0 / nonzero_span(bounds.y);
        Self {
            scale: [sx, sy],
            offset: [-1.0 - sx * bounds.x[0], -1.0 - sy * bounds.y[0]],
            viewport_px,
            pixels_per_point: 1.0,
        }
    }

    /// The transform for a paint callback covering `rect` (egui points) in which `bounds` is
    /// shown, on a screen of `screen_size_px` physical pixels.
    ///
    /// egui-wgpu sets the viewport to `rect` *clamped to the screen* before calling `paint`
    /// (and the scissor to the clip rectangle), so a view partly scrolled off screen would be
    /// squeezed into the visible part; this transform undoes that, keeping data fixed to
    /// `rect`. Returns `None` when nothing of `rect` is on screen (egui then skips `paint`).
    pub fn for_callback(
        bounds: DataRect,
        rect: egui::Rect,
        pixels_per_point: f32,
        screen_size_px: [u32; 2],
    ) -> Option<Self> {
        // The viewport egui-wgpu sets: `rect` in pixels, rounded, clamped to the screen.
        let viewport =
            egui::epaint::ViewportInPixels::from_points(&rect, pixels_per_point, screen_size_px);
        if viewport.width_px <= 0 || viewport.height_px <= 0 {
            return None;
        }
        let (vp_left, vp_top) = (viewport.left_px as f32, viewport.top_px as f32);
        let (vp_width, vp_height) = (viewport.width_px as f32, viewport.height_px as f32);
        // The whole of `rect` in pixels, rounded as egui rounds it but not clamped.
        let left = (pixels_per_point * rect.min.x).round();
        let right = (pixels_per_point * rect.max.x).round();
        let top = (pixels_per_point * rect.min.y).round();
        let bottom = (pixels_per_point * rect.max.y).round();

        // Data → pixels: px = a * x + b (x to the right); py = c * y + d (pixel y points down).
        let a = (right - left) / nonzero_span(bounds.x);
        let b = left - a * bounds.x[0];
        let c = -(bottom - top) / nonzero_span(bounds.y);
        let d = bottom - c * bounds.y[0];
        // Pixels → NDC of the viewport: ndc_x = 2 (px - vp_left) / vp_width - 1,
        // ndc_y = 1 - 2 (py - vp_top) / vp_height.
        Some(Self {
            scale: [2.0 * a / vp_width, -2.0 * c / vp_height],
            offset: [
                2.0 * (b - vp_left) / vp_width - 1.0,
                1.0 - 2.0 * (d - vp_top) / vp_height,
            ],
            viewport_px: [vp_width, vp_height],
            pixels_per_point,
        })
    }

    /// Maps a data point to NDC.
    pub fn to_ndc(&self, p: [f32; 2]) -> [f32; 2] {
        [
            p[0] * self.scale[0] + self.offset[0],
            p[1] * self.scale[1] + self.offset[1],
        ]
    }
}

/// `range[1] - range[0]`, replaced by 1 when zero or not finite so that maps stay finite.
fn nonzero_span(range: [f32; 2]) -> f32 {
    let span = range[1] - range[0];
    if span != 0.0 && span.is_finite() {
        span
    } else {
        1.0
    }
}

/// Builds every pipeline once and stores it in `render_state.renderer.write().callback_resources`.
///
/// Call it once from the app's creation context (`cc.wgpu_render_state`); calling it again
/// replaces the pipelines and drops every view's buffers.
pub fn install(render_state: &egui_wgpu::RenderState) {
    view::install::<points::Points>(render_state);
    view::install::<segments::Segments>(render_state);
    view::install::<heatmap::Heatmap>(render_state);
    view::install::<mesh::Mesh>(render_state);
}

/// Drops the GPU buffers of view `view_id` in every primitive (for a view that is closed for
/// good; a view that is drawn again simply gets new buffers).
pub fn forget_view(render_state: &egui_wgpu::RenderState, view_id: u64) {
    let mut renderer = render_state.renderer.write();
    let resources = &mut renderer.callback_resources;
    view::forget::<points::Points>(resources, view_id);
    view::forget::<segments::Segments>(resources, view_id);
    view::forget::<heatmap::Heatmap>(resources, view_id);
    view::forget::<mesh::Mesh>(resources, view_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 2], b: [f32; 2]) -> bool {
        (a[0] - b[0]).abs() < 1e-5 && (a[1] - b[1]).abs() < 1e-5
    }

    #[test]
    fn to_ndc_maps_corners_and_centre() {
        let r = DataRect::new([2.0, 6.0], [-1.0, 3.0]);
        assert!(close(r.to_ndc([2.0, -1.0]), [-1.0, -1.0]));
        assert!(close(r.to_ndc([6.0, 3.0]), [1.0, 1.0]));
        assert!(close(r.to_ndc([4.0, 1.0]), [0.0, 0.0]));
        let t = ViewTransform::new(r, [100.0, 50.0]);
        for p in [[2.0, -1.0], [6.0, 3.0], [3.0, 2.5]] {
            assert!(close(t.to_ndc(p), r.to_ndc(p)));
        }
    }

    #[test]
    fn callback_transform_on_screen_equals_to_ndc() {
        let r = DataRect::new([-1.0, 1.0], [0.0, 10.0]);
        let rect = egui::Rect::from_min_max(egui::pos2(10.0, 20.0), egui::pos2(110.0, 70.0));
        let t = ViewTransform::for_callback(r, rect, 2.0, [800, 600]).unwrap();
        assert_eq!(t.viewport_px, [200.0, 100.0]);
        for p in [[-1.0, 0.0], [1.0, 10.0], [0.3, 7.0]] {
            assert!(close(t.to_ndc(p), r.to_ndc(p)));
        }
    }

    #[test]
    fn callback_transform_keeps_data_fixed_when_clamped() {
        // The rect hangs 50 pixels off the left and 30 off the bottom of a 200×100 screen.
        let r = DataRect::new([0.0, 100.0], [0.0, 100.0]);
        let rect = egui::Rect::from_min_max(egui::pos2(-50.0, 30.0), egui::pos2(50.0, 130.0));
        let t = ViewTransform::for_callback(r, rect, 1.0, [200, 100]).unwrap();
        // The viewport egui sets is x 0..50, y 30..100 (pixels, y down).
        assert_eq!(t.viewport_px, [50.0, 70.0]);
        let to_px = |p: [f32; 2]| {
            let ndc = t.to_ndc(p);
            [
                (ndc[0] + 1.0) * 0.5 * 50.0,
                30.0 + (1.0 - ndc[1]) * 0.5 * 70.0,
            ]
        };
        // Data (50, 100) is the rect's top middle: pixel (0, 30); data (100, 30) is at
        // pixel (50, 100).
        assert!(close(to_px([50.0, 100.0]), [0.0, 30.0]));
        assert!(close(to_px([100.0, 30.0]), [50.0, 100.0]));
        assert!(
            ViewTransform::for_callback(
                r,
                rect.translate(egui::vec2(-200.0, 0.0)),
                1.0,
                [200, 100]
            )
            .is_none()
        );
    }
}
