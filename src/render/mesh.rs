//! Mesh: indexed triangles with per-vertex colour, drawn in index order with no depth buffer
//! (the app projects 3D ridges to 2D on the CPU and sorts them back to front).

use std::sync::Arc;

use eframe::{egui, wgpu};

use super::util::{GrowBuffer, UniformBuffer, create_pipeline, draw_count, uniform_entry};
use super::view::{self, NewPipeline, Paint, Prepare, Primitive};
use super::{DataRect, ViewTransform};

/// The WGSL source of the mesh pipeline.
pub const SHADER: &str = include_str!("../../shaders/mesh.wgsl");

/// A mesh vertex: position in data space and straight (not premultiplied) sRGB-encoded RGBA.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MeshVertex {
    /// Position in data space.
    pub pos: [f32; 2],
    /// Straight RGBA in 0..1, interpolated across each triangle.
    pub color: [f32; 4],
}

/// One indexed triangle list.
#[derive(Clone, Debug)]
pub struct MeshLayer {
    /// Identifies the contents of `vertices` and `indices`: change it whenever either changes
    /// (both are uploaded only when the key differs from the last upload).
    pub key: u64,
    /// The vertices.
    pub vertices: Arc<Vec<MeshVertex>>,
    /// Three indices into `vertices` per triangle; triangles are drawn in this order. A
    /// trailing incomplete triangle is ignored.
    pub indices: Arc<Vec<u32>>,
}

/// Uniforms of one mesh layer, laid out as `Uniforms` in `mesh.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct MeshUniforms {
    /// Data → NDC factor.
    scale: [f32; 2],
    /// Data → NDC offset. The struct ends at byte 16 with no padding.
    offset: [f32; 2],
}

/// The mesh render pipeline and its bind group layout, built once per device and format.
pub struct MeshPipeline {
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
}

impl MeshPipeline {
    /// Builds the pipeline for render targets of `target_format` (no depth, no MSAA).
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Self {
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("mesh::bind_group_layout"),
            entries: &[uniform_entry::<MeshUniforms>(0)],
        });
        let vertices = wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<MeshVertex>() as u64,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes: &wgpu::vertex_attr_array![0 => Float32x2, 1 => Float32x4],
        };
        let pipeline = create_pipeline(
            device,
            "mesh",
            SHADER,
            &bind_group_layout,
            &[Some(vertices)],
            target_format,
        );
        Self {
            pipeline,
            bind_group_layout,
        }
    }
}

/// GPU buffers of one mesh layer.
struct MeshSlot {
    /// Key of the uploaded vertices and indices, `None` before the first upload.
    key: Option<u64>,
    index_count: u32,
    vertices: GrowBuffer,
    indices: GrowBuffer,
    uniforms: UniformBuffer<MeshUniforms>,
    bind_group: wgpu::BindGroup,
}

impl MeshSlot {
    fn new(device: &wgpu::Device, pipeline: &MeshPipeline) -> Self {
        let uniforms = UniformBuffer::new(device, "mesh::uniforms");
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("mesh::bind_group"),
            layout: &pipeline.bind_group_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: uniforms.binding(),
            }],
        });
        Self {
            key: None,
            index_count: 0,
            vertices: GrowBuffer::new(device, "mesh::vertices", wgpu::BufferUsages::VERTEX),
            indices: GrowBuffer::new(device, "mesh::indices", wgpu::BufferUsages::INDEX),
            uniforms,
            bind_group,
        }
    }
}

/// The GPU buffers of one view's mesh layers, reused across frames.
#[derive(Default)]
pub struct MeshBuffers {
    slots: Vec<MeshSlot>,
}

impl MeshBuffers {
    /// Empty buffers; GPU memory is allocated by the first [`Self::prepare`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Uploads what changed: vertices and indices of layers whose `key` differs from the last
    /// upload into the same slot (layer index), and uniforms that differ from last frame's.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipeline: &MeshPipeline,
        view: &ViewTransform,
        layers: &[MeshLayer],
    ) {
        self.slots.truncate(layers.len());
        while self.slots.len() < layers.len() {
            self.slots.push(MeshSlot::new(device, pipeline));
        }
        for (slot, layer) in self.slots.iter_mut().zip(layers) {
            if slot.key != Some(layer.key) {
                let triangles = layer.indices.len() / 3;
                let indices = &layer.indices[..3 * triangles];
                slot.vertices.write(
                    device,
                    queue,
                    bytemuck::cast_slice(layer.vertices.as_slice()),
                );
                slot.indices
                    .write(device, queue, bytemuck::cast_slice(indices));
                slot.index_count = if layer.vertices.is_empty() {
                    0
                } else {
                    draw_count(indices.len())
                };
                slot.key = Some(layer.key);
            }
            slot.uniforms.write(
                queue,
                MeshUniforms {
                    scale: view.scale,
                    offset: view.offset,
                },
            );
        }
    }

    /// Draws every layer, in order, one indexed draw call each.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>, pipeline: &MeshPipeline) {
        pass.set_pipeline(&pipeline.pipeline);
        for slot in self.slots.iter().filter(|slot| slot.index_count > 0) {
            let index_bytes = u64::from(slot.index_count) * std::mem::size_of::<u32>() as u64;
            pass.set_bind_group(0, &slot.bind_group, &[]);
            // The whole vertex buffer is bound: wgpu checks that it covers every vertex the
            // draw may fetch (robust buffer access keeps stray indices in bounds).
            pass.set_vertex_buffer(0, slot.vertices.slice(slot.vertices.size()));
            pass.set_index_buffer(slot.indices.slice(index_bytes), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..slot.index_count, 0, 0..1);
        }
    }
}

/// The mesh primitive, as the shared paint-callback plumbing in [`super::view`] sees it.
pub(crate) struct Mesh;

impl Primitive for Mesh {
    const NAME: &'static str = "mesh";
    type Layer = MeshLayer;
    type Pipeline = MeshPipeline;
    type Buffers = MeshBuffers;
    const NEW_PIPELINE: NewPipeline<Self> = MeshPipeline::new;
    const PREPARE: Prepare<Self> = MeshBuffers::prepare;
    const PAINT: Paint<Self> = MeshBuffers::paint;
}

/// A paint callback drawing `layers` (in order) into `rect`, which shows `bounds` of data
/// space. Each `view_id` has its own buffers: use one id per view, and at most one mesh
/// callback per view id per frame (a second one would overwrite the first's buffers before
/// either is painted).
pub fn callback(
    rect: egui::Rect,
    view_id: u64,
    bounds: DataRect,
    layers: Vec<MeshLayer>,
) -> egui::PaintCallback {
    view::callback::<Mesh>(rect, view_id, bounds, layers)
}
