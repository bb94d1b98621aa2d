//! Small helpers shared by the pipelines: pipeline creation, growable buffers, uniforms.

use std::sync::Mutex;

use eframe::wgpu;

/// Builds a render pipeline for one primitive: `vs_main`/`fs_main` from `source`, one bind
/// group, premultiplied-alpha blending into `target_format`, no depth buffer and no MSAA (as
/// egui's own render pass, which paint callbacks draw into).
pub(crate) fn create_pipeline(
    device: &wgpu::Device,
    name: &str,
    source: &str,
    bind_group_layout: &wgpu::BindGroupLayout,
    vertex_buffers: &[Option<wgpu::VertexBufferLayout<'_>>],
    target_format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&format!("{name}::shader")),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(&format!("{name}::pipeline_layout")),
        bind_group_layouts: &[Some(bind_group_layout)],
        immediate_size: 0,
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(&format!("{name}::pipeline")),
        layout: Some(&layout),
        vertex: wgpu::VertexState {
            module: &module,
            entry_point: Some("vs_main"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            buffers: vertex_buffers,
        },
        primitive: wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleList,
            cull_mode: None,
            ..Default::default()
        },
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: &module,
            entry_point: Some("fs_main"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format: target_format,
                // The shaders output premultiplied colour, as egui does.
                blend: Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

/// A bind group layout entry for a uniform buffer holding one `T`.
pub(crate) fn uniform_entry<T>(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<T>() as u64),
        },
        count: None,
    }
}

/// A GPU buffer that is reused across frames and reallocated (to the next power of two) only
/// when new contents do not fit.
pub(crate) struct GrowBuffer {
    label: &'static str,
    usage: wgpu::BufferUsages,
    buffer: wgpu::Buffer,
}

impl GrowBuffer {
    /// Bytes allocated before the first upload.
    const INITIAL_BYTES: u64 = 4096;

    /// Creates an empty buffer; `COPY_DST` is added to `usage`.
    pub(crate) fn new(
        device: &wgpu::Device,
        label: &'static str,
        usage: wgpu::BufferUsages,
    ) -> Self {
        let usage = usage | wgpu::BufferUsages::COPY_DST;
        let buffer = Self::allocate(device, label, usage, Self::INITIAL_BYTES);
        Self {
            label,
            usage,
            buffer,
        }
    }

    fn allocate(
        device: &wgpu::Device,
        label: &'static str,
        usage: wgpu::BufferUsages,
        size: u64,
    ) -> wgpu::Buffer {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        })
    }

    /// Writes `bytes` at the start of the buffer, growing it first when it is too small.
    /// `bytes.len()` must be a multiple of 4 (all callers upload `f32`/`u32` data).
    pub(crate) fn write(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, bytes: &[u8]) {
        let needed = bytes.len() as u64;
        if needed > self.buffer.size() {
            let size = needed.next_power_of_two().max(Self::INITIAL_BYTES);
            self.buffer = Self::allocate(device, self.label, self.usage, size);
        }
        if !bytes.is_empty() {
            queue.write_buffer(&self.buffer, 0, bytes);
        }
    }

    /// The allocated size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.buffer.size()
    }

    /// The first `bytes` bytes of the buffer.
    pub(crate) fn slice(&self, bytes: u64) -> wgpu::BufferSlice<'_> {
        self.buffer.slice(..bytes)
    }
}

/// A uniform buffer holding one `T`, written only when the value changes.
pub(crate) struct UniformBuffer<T> {
    buffer: wgpu::Buffer,
    last: Option<T>,
}

impl<T: bytemuck::Pod + PartialEq> UniformBuffer<T> {
    /// Creates the buffer (contents undefined until the first [`Self::write`]).
    pub(crate) fn new(device: &wgpu::Device, label: &'static str) -> Self {
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: std::mem::size_of::<T>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self { buffer, last: None }
    }

    /// Uploads `value` unless it equals the value uploaded last.
    pub(crate) fn write(&mut self, queue: &wgpu::Queue, value: T) {
        if self.last != Some(value) {
            queue.write_buffer(&self.buffer, 0, bytemuck::bytes_of(&value));
            self.last = Some(value);
        }
    }

    /// The binding resource for a bind group entry.
    pub(crate) fn binding(&self) -> wgpu::BindingResource<'_> {
        self.buffer.as_entire_binding()
    }
}

/// Reports once per primitive that [`super::install`] was not called; the view is skipped.
pub(crate) fn warn_missing_resources(primitive: &'static str) {
    /// The primitives reported so far.
    static REPORTED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut reported = crate::sync::lock(&REPORTED);
    if !reported.contains(&primitive) {
        reported.push(primitive);
        eprintln!(
            "render: the {primitive} pipeline is missing from egui-wgpu's callback resources \
             (call collapse_explorer::render::install once at start-up); not drawing {primitive}."
        );
    }
}

/// `1 / (range[1] - range[0])`, or 0 for an empty or non-finite range (every value then maps
/// to the colour map's start).
pub(crate) fn inverse_span(range: [f32; 2]) -> f32 {
    let span = range[1] - range[0];
    if span != 0.0 && span.is_finite() {
        1.0 / span
    } else {
        0.0
    }
}

/// Converts a length to the `u32` that draw calls take, saturating.
pub(crate) fn draw_count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}
