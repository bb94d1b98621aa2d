//! Segments: thick antialiased line segments (trajectories coloured by time, arrows of a
//! velocity field), one instanced quad per segment; one draw call per layer.

use std::sync::Arc;

use eframe::{egui, wgpu};

use super::util::{
    GrowBuffer, UniformBuffer, create_pipeline, draw_count, inverse_span, uniform_entry,
};
use super::view::{self, NewPipeline, Paint, Prepare, Primitive};
use super::{Colormap, DataRect, ViewTransform};

/// The WGSL source of the segments pipeline (the colour maps prepended).
pub const SHADER: &str = concat!(
    include_str!("../../shaders/colormap.wgsl"),
    "\n",
    include_str!("../../shaders/segments.wgsl")
);

/// A line segment from `a` to `b` in data space, with a value at each end (interpolated along
/// the segment for [`SegmentColoring::Map`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Segment {
    /// Start point in data space.
    pub a: [f32; 2],
    /// End point in data space.
    pub b: [f32; 2],
    /// Value at `a`.
    pub value_a: f32,
    /// Value at `b`.
    pub value_b: f32,
}

/// How a segment layer is coloured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SegmentColoring {
    /// One straight (not premultiplied) sRGB-encoded RGBA colour in 0..1.
    Solid([f32; 4]),
    /// The value, interpolated along the segment, mapped through `colormap`: `range[0]` maps
    /// to 0 and `range[1]` to 1, clamped. Segments whose value is NaN are not drawn.
    Map {
        /// The colour map.
        colormap: Colormap,
        /// Values mapped to the colour map's ends.
        range: [f32; 2],
    },
}

/// One set of segments drawn with one colouring, width and opacity.
#[derive(Clone, Debug)]
pub struct SegmentLayer {
    /// Identifies the contents of `segments`: change it whenever they change (segments are
    /// uploaded only when the key differs from the one uploaded last for this layer slot).
    pub key: u64,
    /// The segments; those with a NaN end point are not drawn.
    pub segments: Arc<Vec<Segment>>,
    /// Solid colour or colour map.
    pub coloring: SegmentColoring,
    /// Line width in egui points (logical pixels); the ends are square cut (butt caps).
    pub width_px: f32,
    /// Opacity in 0..1, multiplied into the colour's alpha.
    pub alpha: f32,
}

/// Uniforms of one segment layer, laid out as `Uniforms` in `segments.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct SegmentUniforms {
    /// Data → NDC factor.
    scale: [f32; 2],
    /// Data → NDC offset.
    offset: [f32; 2],
    /// Viewport size in physical pixels.
    viewport_px: [f32; 2],
    /// Line width in physical pixels.
    width_px: f32,
    /// Layer opacity.
    alpha: f32,
    /// Solid colour (straight RGBA); starts at byte 32, 16-byte aligned as WGSL wants.
    color: [f32; 4],
    /// Value mapped to 0.
    value_min: f32,
    /// 1 / (value mapped to 1 − value mapped to 0), or 0 for an empty range.
    value_scale: f32,
    /// `Colormap::index`.
    colormap_index: u32,
    /// 0: solid colour; 1: colour map. The struct ends at byte 64 with no padding.
    mode: u32,
}

/// The segments render pipeline and its bind group layout, built once per device and format.
pub struct SegmentPipeline {
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
}

impl SegmentPipeline {
    /// Builds the pipeline for render targets of `target_format` (no depth, no MSAA).
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Self {
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("segments::bind_group_layout"),
            entries: &[uniform_entry::<SegmentUniforms>(0)],
        });
        let segments = wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<Segment>() as u64,
            step_mode: wgpu::VertexStepMode::Instance,
            // a, b, then (value_a, value_b).
            attributes: &wgpu::vertex_attr_array![0 => Float32x2, 1 => Float32x2, 2 => Float32x2],
        };
        let pipeline = create_pipeline(
            device,
            "segments",
            SHADER,
            &bind_group_layout,
            &[Some(segments)],
            target_format,
        );
        Self {
            pipeline,
            bind_group_layout,
        }
    }
}

/// GPU buffers of one segment layer.
struct SegmentSlot {
    /// Key of the segments in `segments`, `None` before the first upload.
    key: Option<u64>,
    count: u32,
    segments: GrowBuffer,
    uniforms: UniformBuffer<SegmentUniforms>,
    bind_group: wgpu::BindGroup,
}

impl SegmentSlot {
    fn new(device: &wgpu::Device, pipeline: &SegmentPipeline) -> Self {
        let uniforms = UniformBuffer::new(device, "segments::uniforms");
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("segments::bind_group"),
            layout: &pipeline.bind_group_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: uniforms.binding(),
            }],
        });
        Self {
            key: None,
            count: 0,
            segments: GrowBuffer::new(device, "segments::segments", wgpu::BufferUsages::VERTEX),
            uniforms,
            bind_group,
        }
    }
}

/// The GPU buffers of one view's segment layers, reused across frames.
#[derive(Default)]
pub struct SegmentBuffers {
    slots: Vec<SegmentSlot>,
}

impl SegmentBuffers {
    /// Empty buffers; GPU memory is allocated by the first [`Self::prepare`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Uploads what changed: segments of layers whose `key` differs from the last upload
    /// into the same slot (layer index), and uniforms that differ from last frame's.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipeline: &SegmentPipeline,
        view: &ViewTransform,
        layers: &[SegmentLayer],
    ) {
        self.slots.truncate(layers.len());
        while self.slots.len() < layers.len() {
            self.slots.push(SegmentSlot::new(device, pipeline));
        }
        for (slot, layer) in self.slots.iter_mut().zip(layers) {
            if slot.key != Some(layer.key) {
                slot.segments.write(
                    device,
                    queue,
                    bytemuck::cast_slice(layer.segments.as_slice()),
                );
                slot.count = draw_count(layer.segments.len());
                slot.key = Some(layer.key);
            }
            let (color, value_min, value_scale, colormap_index, mode) = match layer.coloring {
                SegmentColoring::Solid(color) => (color, 0.0, 0.0, 0, 0),
                SegmentColoring::Map { colormap, range } => {
                    ([1.0; 4], range[0], inverse_span(range), colormap.index(), 1)
                }
            };
            slot.uniforms.write(
                queue,
                SegmentUniforms {
                    scale: view.scale,
                    offset: view.offset,
                    viewport_px: view.viewport_px,
                    width_px: layer.width_px * view.pixels_per_point,
                    alpha: layer.alpha,
                    color,
                    value_min,
                    value_scale,
                    colormap_index,
                    mode,
                },
            );
        }
    }

    /// Draws every layer, in order, one instanced draw call each.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>, pipeline: &SegmentPipeline) {
        pass.set_pipeline(&pipeline.pipeline);
        for slot in self.slots.iter().filter(|slot| slot.count > 0) {
            let bytes = u64::from(slot.count) * std::mem::size_of::<Segment>() as u64;
            pass.set_bind_group(0, &slot.bind_group, &[]);
            pass.set_vertex_buffer(0, slot.segments.slice(bytes));
            pass.draw(0..6, 0..slot.count);
        }
    }
}

/// The segments primitive, as the shared paint-callback plumbing in [`super::view`] sees it.
pub(crate) struct Segments;

impl Primitive for Segments {
    const NAME: &'static str = "segments";
    type Layer = SegmentLayer;
    type Pipeline = SegmentPipeline;
    type Buffers = SegmentBuffers;
    const NEW_PIPELINE: NewPipeline<Self> = SegmentPipeline::new;
    const PREPARE: Prepare<Self> = SegmentBuffers::prepare;
    const PAINT: Paint<Self> = SegmentBuffers::paint;
}

/// A paint callback drawing `layers` (in order) into `rect`, which shows `bounds` of data
/// space. Each `view_id` has its own buffers: use one id per view, and at most one segments
/// callback per view id per frame (a second one would overwrite the first's buffers before
/// either is painted).
pub fn callback(
    rect: egui::Rect,
    view_id: u64,
    bounds: DataRect,
    layers: Vec<SegmentLayer>,
) -> egui::PaintCallback {
    view::callback::<Segments>(rect, view_id, bounds, layers)
}
