//! Heatmap: a grid of values over a data-space rectangle, stored in an `R32Float` texture,
//! looked up nearest-cell and mapped through a colour map in the fragment shader.

use std::sync::{Arc, Once};

use eframe::{egui, wgpu};

use super::util::{UniformBuffer, create_pipeline, inverse_span, uniform_entry};
use super::view::{self, NewPipeline, Paint, Prepare, Primitive};
use super::{Colormap, DataRect, ViewTransform};

/// The WGSL source of the heatmap pipeline (the colour maps prepended).
pub const SHADER: &str = concat!(
    include_str!("../../shaders/colormap.wgsl"),
    "\n",
    include_str!("../../shaders/heatmap.wgsl")
);

/// One grid of values drawn over a data-space rectangle.
#[derive(Clone, Debug)]
pub struct HeatmapLayer {
    /// Identifies the contents of `values` (and `width`, `height`): change it whenever they
    /// change (values are uploaded only when the key differs from the last upload).
    pub key: u64,
    /// Cells per row. At most the device's `max_texture_dimension_2d` (8192 by default).
    pub width: u32,
    /// Rows. At most the device's `max_texture_dimension_2d` (8192 by default).
    pub height: u32,
    /// `width * height` values, row-major, row 0 = bottom (lowest y). NaN cells are not drawn
    /// (transparent). A layer whose length does not match is skipped.
    pub values: Arc<Vec<f32>>,
    /// Where the grid sits in data space.
    pub extent: DataRect,
    /// Value range mapped to 0..1 of the colour map, clamped (after the log when `log_scale`).
    pub range: [f32; 2],
    /// The colour map.
    pub colormap: Colormap,
    /// Map `ln(1 + v)` instead of `v`; `range` applies after the log.
    pub log_scale: bool,
    /// Opacity in 0..1.
    pub alpha: f32,
}

/// Uniforms of one heatmap layer, laid out as `Uniforms` in `heatmap.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct HeatmapUniforms {
    /// Data → NDC factor.
    scale: [f32; 2],
    /// Data → NDC offset.
    offset: [f32; 2],
    /// Data-space corner of the grid with the lowest x and y.
    extent_min: [f32; 2],
    /// Data-space corner of the grid with the highest x and y.
    extent_max: [f32; 2],
    /// Value (after the optional log) mapped to 0.
    value_min: f32,
    /// 1 / (value mapped to 1 − value mapped to 0), or 0 for an empty range.
    value_scale: f32,
    /// Layer opacity.
    alpha: f32,
    /// `Colormap::index`.
    colormap_index: u32,
    /// 1: map ln(1 + v).
    log_scale: u32,
    /// Padding: the struct ends at byte 64, a multiple of 16.
    _pad: [u32; 3],
}

/// The heatmap render pipeline and its bind group layout, built once per device and format.
pub struct HeatmapPipeline {
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
}

impl HeatmapPipeline {
    /// Builds the pipeline for render targets of `target_format` (no depth, no MSAA).
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Self {
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("heatmap::bind_group_layout"),
            entries: &[
                uniform_entry::<HeatmapUniforms>(0),
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        // R32Float is not filterable without a feature; the shader uses
                        // `textureLoad` (nearest cell), which needs no sampler.
                        sample_type: wgpu::TextureSampleType::Float { filterable: false },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
            ],
        });
        let pipeline = create_pipeline(
            device,
            "heatmap",
            SHADER,
            &bind_group_layout,
            &[],
            target_format,
        );
        Self {
            pipeline,
            bind_group_layout,
        }
    }
}

/// The values texture of one layer and the bind group that reads it.
struct GridTexture {
    texture: wgpu::Texture,
    bind_group: wgpu::BindGroup,
}

/// GPU resources of one heatmap layer.
struct HeatmapSlot {
    /// Key of the values in `grid`, `None` before the first upload.
    key: Option<u64>,
    /// The texture, `None` when the last layer in this slot could not be drawn.
    grid: Option<GridTexture>,
    uniforms: UniformBuffer<HeatmapUniforms>,
}

static BAD_LAYER: Once = Once::new();

impl HeatmapSlot {
    /// Uploads `layer`'s values, reusing the texture when its size is unchanged.
    fn upload(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipeline: &HeatmapPipeline,
        layer: &HeatmapLayer,
    ) {
        let max = device.limits().max_texture_dimension_2d;
        let cells = layer.width as usize * layer.height as usize;
        if layer.width == 0
            || layer.height == 0
            || layer.width > max
            || layer.height > max
            || layer.values.len() != cells
        {
            BAD_LAYER.call_once(|| {
                eprintln!(
                    "render: skipping a heatmap layer of {}×{} cells with {} values \
                     (sizes must be 1..={max} and match the values).",
                    layer.width,
                    layer.height,
                    layer.values.len()
                );
            });
            self.grid = None;
            return;
        }
        let size = wgpu::Extent3d {
            width: layer.width,
            height: layer.height,
            depth_or_array_layers: 1,
        };
        if self
            .grid
            .as_ref()
            .is_none_or(|grid| grid.texture.size() != size)
        {
            let texture = device.create_texture(&wgpu::TextureDescriptor {
                label: Some("heatmap::values"),
                size,
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::R32Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            });
            let view = texture.create_view(&wgpu::TextureViewDescriptor {
                label: Some("heatmap::values_view"),
                ..Default::default()
            });
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("heatmap::bind_group"),
                layout: &pipeline.bind_group_layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: self.uniforms.binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::TextureView(&view),
                    },
                ],
            });
            self.grid = Some(GridTexture {
                texture,
                bind_group,
            });
        }
        if let Some(grid) = &self.grid {
            // `Queue::write_texture` has no row alignment requirement (unlike buffer copies).
            queue.write_texture(
                grid.texture.as_image_copy(),
                bytemuck::cast_slice(layer.values.as_slice()),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(4 * layer.width),
                    rows_per_image: Some(layer.height),
                },
                size,
            );
        }
    }
}

/// The GPU resources of one view's heatmap layers, reused across frames.
#[derive(Default)]
pub struct HeatmapBuffers {
    slots: Vec<HeatmapSlot>,
}

impl HeatmapBuffers {
    /// Empty buffers; GPU memory is allocated by the first [`Self::prepare`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Uploads what changed: values of layers whose `key` differs from the last upload into
    /// the same slot (layer index), and uniforms that differ from last frame's.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipeline: &HeatmapPipeline,
        view: &ViewTransform,
        layers: &[HeatmapLayer],
    ) {
        self.slots.truncate(layers.len());
        while self.slots.len() < layers.len() {
            self.slots.push(HeatmapSlot {
                key: None,
                grid: None,
                uniforms: UniformBuffer::new(device, "heatmap::uniforms"),
            });
        }
        for (slot, layer) in self.slots.iter_mut().zip(layers) {
            if slot.key != Some(layer.key) {
                slot.upload(device, queue, pipeline, layer);
                slot.key = Some(layer.key);
            }
            let extent = layer.extent;
            slot.uniforms.write(
                queue,
                HeatmapUniforms {
                    scale: view.scale,
                    offset: view.offset,
                    extent_min: [extent.x[0], extent.y[0]],
                    extent_max: [extent.x[1], extent.y[1]],
                    value_min: layer.range[0],
                    value_scale: inverse_span(layer.range),
                    alpha: layer.alpha,
                    colormap_index: layer.colormap.index(),
                    log_scale: u32::from(layer.log_scale),
                    _pad: [0; 3],
                },
            );
        }
    }

    /// Draws every layer, in order, one draw call each.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>, pipeline: &HeatmapPipeline) {
        pass.set_pipeline(&pipeline.pipeline);
        for grid in self.slots.iter().filter_map(|slot| slot.grid.as_ref()) {
            pass.set_bind_group(0, &grid.bind_group, &[]);
            pass.draw(0..6, 0..1);
        }
    }
}

/// The heatmap primitive, as the shared paint-callback plumbing in [`super::view`] sees it.
pub(crate) struct Heatmap;

impl Primitive for Heatmap {
    const NAME: &'static str = "heatmap";
    type Layer = HeatmapLayer;
    type Pipeline = HeatmapPipeline;
    type Buffers = HeatmapBuffers;
    const NEW_PIPELINE: NewPipeline<Self> = HeatmapPipeline::new;
    const PREPARE: Prepare<Self> = HeatmapBuffers::prepare;
    const PAINT: Paint<Self> = HeatmapBuffers::paint;
}

/// A paint callback drawing `layers` (in order) into `rect`, which shows `bounds` of data
/// space. Each `view_id` has its own buffers: use one id per view, and at most one heatmap
/// callback per view id per frame (a second one would overwrite the first's buffers before
/// either is painted).
pub fn callback(
    rect: egui::Rect,
    view_id: u64,
    bounds: DataRect,
    layers: Vec<HeatmapLayer>,
) -> egui::PaintCallback {
    view::callback::<Heatmap>(rect, view_id, bounds, layers)
}
