//! Points: one instanced, antialiased disc per position; one draw call per layer.

use std::sync::Arc;

use eframe::{egui, wgpu};

use super::util::{GrowBuffer, UniformBuffer, create_pipeline, draw_count, uniform_entry};
use super::view::{self, NewPipeline, Paint, Prepare, Primitive};
use super::{DataRect, ViewTransform};

/// The WGSL source of the points pipeline.
pub const SHADER: &str = include_str!("../../shaders/points.wgsl");

/// One set of points drawn with one colour and size.
#[derive(Clone, Debug)]
pub struct PointLayer {
    /// Identifies the contents of `positions`: change it whenever they change (positions are
    /// uploaded only when the key differs from the one uploaded last for this layer slot).
    pub key: u64,
    /// Point centres in data space; points at NaN are not drawn.
    pub positions: Arc<Vec<[f32; 2]>>,
    /// Straight (not premultiplied) sRGB-encoded RGBA in 0..1.
    pub color: [f32; 4],
    /// Disc diameter in egui points (logical pixels).
    pub size_px: f32,
}

/// Uniforms of one point layer, laid out as `Uniforms` in `points.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct PointUniforms {
    /// Data → NDC factor.
    scale: [f32; 2],
    /// Data → NDC offset.
    offset: [f32; 2],
    /// Viewport size in physical pixels.
    viewport_px: [f32; 2],
    /// Disc diameter in physical pixels.
    diameter_px: f32,
    /// Padding: `color` starts at byte 32 (16-byte aligned in WGSL).
    _pad: f32,
    /// Straight RGBA.
    color: [f32; 4],
}

/// The points render pipeline and its bind group layout, built once per device and format.
pub struct PointPipeline {
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
}

impl PointPipeline {
    /// Builds the pipeline for render targets of `target_format` (no depth, no MSAA).
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Self {
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("points::bind_group_layout"),
            entries: &[uniform_entry::<PointUniforms>(0)],
        });
        let positions = wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<[f32; 2]>() as u64,
            step_mode: wgpu::VertexStepMode::Instance,
            attributes: &wgpu::vertex_attr_array![0 => Float32x2],
        };
        let pipeline = create_pipeline(
            device,
            "points",
            SHADER,
            &bind_group_layout,
            &[Some(positions)],
            target_format,
        );
        Self {
            pipeline,
            bind_group_layout,
        }
    }
}

/// GPU buffers of one point layer.
struct PointSlot {
    /// Key of the positions in `positions`, `None` before the first upload.
    key: Option<u64>,
    count: u32,
    positions: GrowBuffer,
    uniforms: UniformBuffer<PointUniforms>,
    bind_group: wgpu::BindGroup,
}

impl PointSlot {
    fn new(device: &wgpu::Device, pipeline: &PointPipeline) -> Self {
        let uniforms = UniformBuffer::new(device, "points::uniforms");
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("points::bind_group"),
            layout: &pipeline.bind_group_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: uniforms.binding(),
            }],
        });
        Self {
            key: None,
            count: 0,
            positions: GrowBuffer::new(device, "points::positions", wgpu::BufferUsages::VERTEX),
            uniforms,
            bind_group,
        }
    }
}

/// The GPU buffers of one view's point layers, reused across frames.
#[derive(Default)]
pub struct PointBuffers {
    slots: Vec<PointSlot>,
}

impl PointBuffers {
    /// Empty buffers; GPU memory is allocated by the first [`Self::prepare`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Uploads what changed: positions of layers whose `key` differs from the last upload
    /// into the same slot (layer index), and uniforms that differ from last frame's.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipeline: &PointPipeline,
        view: &ViewTransform,
        layers: &[PointLayer],
    ) {
        self.slots.truncate(layers.len());
        while self.slots.len() < layers.len() {
            self.slots.push(PointSlot::new(device, pipeline));
        }
        for (slot, layer) in self.slots.iter_mut().zip(layers) {
            if slot.key != Some(layer.key) {
                slot.positions.write(
                    device,
                    queue,
                    bytemuck::cast_slice(layer.positions.as_slice()),
                );
                slot.count = draw_count(layer.positions.len());
                slot.key = Some(layer.key);
            }
            slot.uniforms.write(
                queue,
                PointUniforms {
                    scale: view.scale,
                    offset: view.offset,
                    viewport_px: view.viewport_px,
                    diameter_px: layer.size_px * view.pixels_per_point,
                    _pad: 0.0,
                    color: layer.color,
                },
            );
        }
    }

    /// Draws every layer, in order, one instanced draw call each.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>, pipeline: &PointPipeline) {
        pass.set_pipeline(&pipeline.pipeline);
        for slot in self.slots.iter().filter(|slot| slot.count > 0) {
            let bytes = u64::from(slot.count) * std::mem::size_of::<[f32; 2]>() as u64;
            pass.set_bind_group(0, &slot.bind_group, &[]);
            pass.set_vertex_buffer(0, slot.positions.slice(bytes));
            pass.draw(0..6, 0..slot.count);
        }
    }
}

/// The points primitive, as the shared paint-callback plumbing in [`super::view`] sees it.
pub(crate) struct Points;

impl Primitive for Points {
    const NAME: &'static str = "points";
    type Layer = PointLayer;
    type Pipeline = PointPipeline;
    type Buffers = PointBuffers;
    const NEW_PIPELINE: NewPipeline<Self> = PointPipeline::new;
    const PREPARE: Prepare<Self> = PointBuffers::prepare;
    const PAINT: Paint<Self> = PointBuffers::paint;
}

/// A paint callback drawing `layers` (in order) into `rect`, which shows `bounds` of data
/// space. Each `view_id` has its own buffers: use one id per view, and at most one points
/// callback per view id per frame (a second one would overwrite the first's buffers before
/// either is painted).
pub fn callback(
    rect: egui::Rect,
    view_id: u64,
    bounds: DataRect,
    layers: Vec<PointLayer>,
) -> egui::PaintCallback {
    view::callback::<Points>(rect, view_id, bounds, layers)
}
