//! Renderer tests on a headless wgpu device: every shader validates, and each primitive draws
//! a tiny scene into a 64×64 `Rgba8Unorm` texture (cleared to opaque black) whose pixels are
//! checked against what the CPU expects.
//!
//! They run on whatever adapter wgpu finds; CI has only Mesa's software Vulkan (lavapipe), and
//! the tolerances below were set on it. With no adapter at all the tests fail: a renderer that
//! was never run is not a passing renderer.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use collapse_explorer::render::heatmap::{HeatmapBuffers, HeatmapLayer, HeatmapPipeline};
use collapse_explorer::render::mesh::{MeshBuffers, MeshLayer, MeshPipeline, MeshVertex};
use collapse_explorer::render::points::{PointBuffers, PointLayer, PointPipeline};
use collapse_explorer::render::segments::{
    Segment, SegmentBuffers, SegmentColoring, SegmentLayer, SegmentPipeline,
};
use collapse_explorer::render::{self, Colormap, DataRect, ViewTransform};
use eframe::wgpu;

/// Side of the square render target in pixels.
const SIZE: u32 = 64;
/// The render target's format: egui's usual (non-sRGB) format, so raw values are compared.
const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// One 8-bit step, plus rounding.
const BYTE: f32 = 1.5 / 255.0;

/// Drives a future to completion on this thread. wgpu's native futures (adapter, device, error
/// scopes) are ready at once; buffer mapping is driven by `Device::poll` instead.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}

struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
}

/// One device shared by every test in this file (device creation on lavapipe is the slow part).
fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        // Vulkan (lavapipe in CI) and the other primary backends first: probing GL on a
        // headless machine only adds noise.
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
        });
        let adapter = block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            force_fallback_adapter: false,
            ..Default::default()
        }))
        .ok()
        .or_else(|| {
            // Then any adapter of any backend, software (`DeviceType::Cpu`) included.
            let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
                backends: wgpu::Backends::all(),
                ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
            });
            block_on(instance.enumerate_adapters(wgpu::Backends::all()))
                .into_iter()
                .next()
        })
        .expect(
            "no wgpu adapter found: install Mesa's software Vulkan \
             (apt-get install mesa-vulkan-drivers libvulkan1) to run the renderer tests",
        );
        let info = adapter.get_info();
        eprintln!(
            "render tests on {} ({:?}, {:?})",
            info.name, info.backend, info.device_type
        );
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("render_tests::device"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .expect("the adapter refused a device with its own limits");
        Gpu { device, queue }
    })
}

/// The 64×64 view used by every scene: data [-1, 1]² fills it.
fn unit_view() -> ViewTransform {
    ViewTransform::new(DataRect::new([-1.0, 1.0], [-1.0, 1.0]), [SIZE as f32; 2])
}

/// Pixels read back from the render target, row 0 at the top, RGBA in 0..1.
struct Image {
    pixels: Vec<[u8; 4]>,
}

impl Image {
    /// The pixel in column `x`, row `y` (from the top).
    fn at(&self, x: u32, y: u32) -> [f32; 4] {
        self.pixels[(y * SIZE + x) as usize].map(|c| f32::from(c) / 255.0)
    }

    /// Asserts that pixel (x, y) has RGB within `tolerance` of `rgb` and is opaque.
    fn assert_rgb(&self, x: u32, y: u32, rgb: [f32; 3], tolerance: f32, what: &str) {
        let got = self.at(x, y);
        let ok = (0..3).all(|k| (got[k] - rgb[k]).abs() <= tolerance) && got[3] > 1.0 - BYTE;
        assert!(
            ok,
            "{what}: pixel ({x}, {y}) is {got:?}, want {rgb:?} ± {tolerance}"
        );
    }

    fn assert_black(&self, x: u32, y: u32, what: &str) {
        self.assert_rgb(x, y, [0.0; 3], BYTE, what);
    }
}

/// Renders `draw` into a fresh target cleared to opaque black and reads it back.
fn render(draw: impl FnOnce(&mut wgpu::RenderPass<'_>)) -> Image {
    let Gpu { device, queue } = gpu();
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("render_tests::target"),
        size: wgpu::Extent3d {
            width: SIZE,
            height: SIZE,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: FORMAT,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
    // Rows of a texture → buffer copy are padded to COPY_BYTES_PER_ROW_ALIGNMENT (256) bytes.
    let row_bytes = 4 * SIZE;
    let padded_row_bytes =
        row_bytes.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("render_tests::readback"),
        size: u64::from(padded_row_bytes * SIZE),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });

    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("render_tests::encoder"),
    });
    {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("render_tests::pass"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        draw(&mut pass);
    }
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &readback,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded_row_bytes),
                rows_per_image: Some(SIZE),
            },
        },
        texture.size(),
    );
    queue.submit([encoder.finish()]);

    readback.map_async(wgpu::MapMode::Read, .., |result| {
        result.expect("mapping the readback buffer failed");
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("waiting for the GPU failed");
    let bytes = readback
        .get_mapped_range(..)
        .expect("readback buffer not mapped");
    let pixels = bytes
        .chunks_exact(padded_row_bytes as usize)
        .flat_map(|row| row[..row_bytes as usize].chunks_exact(4))
        .map(|p| [p[0], p[1], p[2], p[3]])
        .collect();
    Image { pixels }
}

#[test]
fn every_shader_and_pipeline_validates() {
    let Gpu { device, .. } = gpu();
    for (name, source) in render::SHADERS {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let _module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        if let Some(error) = block_on(scope.pop()) {
            panic!("shader {name} does not validate:\n{error}");
        }
    }
    // The pipelines check the shaders against their bind group and vertex layouts.
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    PointPipeline::new(device, FORMAT);
    SegmentPipeline::new(device, FORMAT);
    HeatmapPipeline::new(device, FORMAT);
    MeshPipeline::new(device, FORMAT);
    if let Some(error) = block_on(scope.pop()) {
        panic!("a pipeline does not validate:\n{error}");
    }
}

fn point_layer(key: u64, positions: Vec<[f32; 2]>, size_px: f32) -> PointLayer {
    PointLayer {
        key,
        positions: Arc::new(positions),
        color: [1.0, 0.0, 0.0, 1.0],
        size_px,
    }
}

#[test]
fn a_point_is_a_round_antialiased_disc_of_its_size() {
    let Gpu { device, queue } = gpu();
    let pipeline = PointPipeline::new(device, FORMAT);
    let mut buffers = PointBuffers::new();
    let size = 8.0;
    buffers.prepare(
        device,
        queue,
        &pipeline,
        &unit_view(),
        &[point_layer(1, vec![[0.0, 0.0]], size)],
    );
    let image = render(|pass| buffers.paint(pass, &pipeline));

    // Data (0, 0) is the centre of the target, pixel corner (32, 32).
    let radius = size / 2.0;
    let mut rim = 0;
    for y in 0..SIZE {
        for x in 0..SIZE {
            let d = ((x as f32 + 0.5 - 32.0).powi(2) + (y as f32 + 0.5 - 32.0).powi(2)).sqrt();
            if d <= radius - 0.5 {
                image.assert_rgb(x, y, [1.0, 0.0, 0.0], BYTE, "inside the disc");
            } else if d >= radius + 0.5 {
                image.assert_black(x, y, "outside the disc");
            } else {
                let red = image.at(x, y)[0];
                rim += usize::from(red > BYTE && red < 1.0 - BYTE);
            }
        }
    }
    assert!(
        rim >= 8,
        "the rim is not antialiased ({rim} partly covered pixels)"
    );
    // The pixel at radius size/2 + 2 and the corners stay black.
    image.assert_black(32 + 6, 32, "radius + 2");
    image.assert_black(0, 0, "corner");
    image.assert_black(SIZE - 1, SIZE - 1, "corner");
}

#[test]
fn points_are_uploaded_only_when_the_key_changes() {
    let Gpu { device, queue } = gpu();
    let pipeline = PointPipeline::new(device, FORMAT);
    let mut buffers = PointBuffers::new();
    let view = unit_view();
    // Data (±0.5, ±0.5) lands on pixel corner (48, 16) or (16, 48).
    let upper_right = [0.5, 0.5];
    let lower_left = [-0.5, -0.5];

    buffers.prepare(
        device,
        queue,
        &pipeline,
        &view,
        &[point_layer(7, vec![upper_right], 6.0)],
    );
    // Same key, new positions: the old positions stay on the GPU.
    buffers.prepare(
        device,
        queue,
        &pipeline,
        &view,
        &[point_layer(7, vec![lower_left], 6.0)],
    );
    let image = render(|pass| buffers.paint(pass, &pipeline));
    image.assert_rgb(48, 15, [1.0, 0.0, 0.0], BYTE, "kept position");
    image.assert_black(16, 48, "not uploaded");

    // A new key with more points than the first buffer holds: reallocated and uploaded.
    let many = vec![lower_left; 10_000];
    buffers.prepare(
        device,
        queue,
        &pipeline,
        &view,
        &[point_layer(8, many, 6.0)],
    );
    let image = render(|pass| buffers.paint(pass, &pipeline));
    image.assert_black(48, 15, "old position");
    image.assert_rgb(16, 48, [1.0, 0.0, 0.0], BYTE, "new position");
}

#[test]
fn two_hundred_thousand_points_draw_in_one_call() {
    let Gpu { device, queue } = gpu();
    let pipeline = PointPipeline::new(device, FORMAT);
    let mut buffers = PointBuffers::new();
    // A fixed low-discrepancy (R2) sequence covers the square evenly.
    let n = 200_000;
    let positions = (0..n)
        .map(|i| {
            let i = i as f64;
            let x = (0.5 + i * 0.754_877_666_246_692_7) % 1.0;
            let y = (0.5 + i * 0.569_840_290_998_053_3) % 1.0;
            [(2.0 * x - 1.0) as f32, (2.0 * y - 1.0) as f32]
        })
        .collect();
    let start = std::time::Instant::now();
    buffers.prepare(
        device,
        queue,
        &pipeline,
        &unit_view(),
        &[point_layer(1, positions, 2.0)],
    );
    let image = render(|pass| buffers.paint(pass, &pipeline));
    eprintln!(
        "200 000 points: upload, draw and read back in {:?}",
        start.elapsed()
    );
    let lit = image.pixels.iter().filter(|p| p[0] > 200).count();
    assert_eq!(
        lit,
        (SIZE * SIZE) as usize,
        "every pixel is under some point"
    );
}

#[test]
fn a_segment_maps_its_value_along_its_length() {
    let Gpu { device, queue } = gpu();
    let pipeline = SegmentPipeline::new(device, FORMAT);
    let mut buffers = SegmentBuffers::new();
    let colormap = Colormap::Viridis;
    let mapped = SegmentLayer {
        key: 1,
        segments: Arc::new(vec![Segment {
            a: [-0.5, 0.0],
            b: [0.5, 0.0],
            value_a: 10.0,
            value_b: 20.0,
        }]),
        coloring: SegmentColoring::Map {
            colormap,
            range: [10.0, 20.0],
        },
        width_px: 6.0,
        alpha: 1.0,
    };
    // A second layer: solid green at half opacity, vertical, at data x = 0.75 (pixel 56).
    let solid = SegmentLayer {
        key: 1,
        segments: Arc::new(vec![Segment {
            a: [0.75, -0.5],
            b: [0.75, 0.5],
            ..Default::default()
        }]),
        coloring: SegmentColoring::Solid([0.0, 1.0, 0.0, 1.0]),
        width_px: 4.0,
        alpha: 0.5,
    };
    buffers.prepare(device, queue, &pipeline, &unit_view(), &[mapped, solid]);
    let image = render(|pass| buffers.paint(pass, &pipeline));

    // The segment runs from pixel x 16 to 48 along the line between rows 31 and 32. The
    // value at a pixel centre is interpolated exactly, so the tolerance covers only 8-bit
    // rounding and f32 differences; 0.06 would be generous, lavapipe needs 0.01.
    let tolerance = 0.01;
    for x in 16..48 {
        let t = (x as f32 + 0.5 - 16.0) / 32.0;
        for y in [29, 31, 32, 34] {
            image.assert_rgb(x, y, colormap.eval(t), tolerance, "along the segment");
        }
    }
    // The end pixels' centres sit half a pixel inside the ends (t = 1/64 and 63/64).
    image.assert_rgb(16, 31, colormap.eval(0.0), 0.06, "left end ≈ colormap(0)");
    image.assert_rgb(47, 31, colormap.eval(1.0), 0.06, "right end ≈ colormap(1)");
    // 3.5 px from the centre line (width 6) and 1.5 px beyond the ends: nothing.
    image.assert_black(30, 28, "above the line");
    image.assert_black(30, 35, "below the line");
    image.assert_black(14, 31, "before the start");
    image.assert_black(49, 31, "after the end");
    // Half-opaque green over black, premultiplied: 0.5 green.
    image.assert_rgb(
        56,
        20,
        [0.0, 0.5, 0.0],
        2.0 * BYTE,
        "half-opaque solid segment",
    );
    image.assert_black(53, 20, "beside the solid segment");
}

fn heatmap_layer(
    key: u64,
    (width, height): (u32, u32),
    values: Vec<f32>,
    extent: DataRect,
    colormap: Colormap,
    log_scale: bool,
) -> HeatmapLayer {
    HeatmapLayer {
        key,
        width,
        height,
        values: Arc::new(values),
        extent,
        range: [0.0, 1.0],
        colormap,
        log_scale,
        alpha: 1.0,
    }
}

#[test]
fn heatmap_cells_land_in_their_quadrants_with_row_zero_at_the_bottom() {
    let Gpu { device, queue } = gpu();
    let pipeline = HeatmapPipeline::new(device, FORMAT);
    let mut buffers = HeatmapBuffers::new();
    let colormap = Colormap::Viridis;
    let values = vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0];
    let extent = DataRect::new([-1.0, 1.0], [-1.0, 1.0]);
    let layer = heatmap_layer(1, (2, 2), values, extent, colormap, false);
    buffers.prepare(device, queue, &pipeline, &unit_view(), &[layer]);
    let image = render(|pass| buffers.paint(pass, &pipeline));

    // Nearest-cell lookup: only 8-bit rounding separates GPU from CPU (lavapipe).
    let tolerance = 2.0 * BYTE;
    for (x, y, v, what) in [
        (16, 48, 0.0, "bottom left = row 0, column 0"),
        (48, 48, 1.0 / 3.0, "bottom right = row 0, column 1"),
        (16, 16, 2.0 / 3.0, "top left = row 1, column 0"),
        (48, 16, 1.0, "top right = row 1, column 1"),
    ] {
        image.assert_rgb(x, y, colormap.eval(v), tolerance, what);
    }
}

#[test]
fn heatmap_draws_nan_transparent_and_maps_log_values() {
    let Gpu { device, queue } = gpu();
    let pipeline = HeatmapPipeline::new(device, FORMAT);
    let mut buffers = HeatmapBuffers::new();
    let colormap = Colormap::Magma;
    // Two cells over the lower-right quadrant: NaN, then e − 1 (ln(1 + v) = 1).
    let values = vec![f32::NAN, std::f32::consts::E - 1.0];
    let extent = DataRect::new([0.0, 1.0], [-1.0, 0.0]);
    let layer = heatmap_layer(1, (2, 1), values, extent, colormap, true);
    buffers.prepare(device, queue, &pipeline, &unit_view(), &[layer]);
    let image = render(|pass| buffers.paint(pass, &pipeline));

    image.assert_black(40, 48, "NaN cell");
    image.assert_rgb(
        56,
        48,
        colormap.eval(1.0),
        2.0 * BYTE,
        "ln(1 + (e − 1)) = 1",
    );
    image.assert_black(56, 16, "above the extent");
    image.assert_black(16, 48, "left of the extent");
}

#[test]
fn a_mesh_triangle_interpolates_vertex_colours_and_blends_premultiplied() {
    let Gpu { device, queue } = gpu();
    let pipeline = MeshPipeline::new(device, FORMAT);
    let mut buffers = MeshBuffers::new();
    let corners = [[-0.5, -0.5], [0.5, -0.5], [0.0, 0.5]];
    let colors = [
        [1.0, 0.0, 0.0, 1.0],
        [0.0, 1.0, 0.0, 1.0],
        [0.0, 0.0, 1.0, 1.0],
    ];
    let rgb = MeshLayer {
        key: 1,
        vertices: Arc::new(
            (0..3)
                .map(|i| MeshVertex {
                    pos: corners[i],
                    color: colors[i],
                })
                .collect(),
        ),
        indices: Arc::new(vec![0, 1, 2]),
    };
    // Half-opaque white over the top-left corner.
    let white = [1.0, 1.0, 1.0, 0.5];
    let veil = MeshLayer {
        key: 1,
        vertices: Arc::new(
            [[-1.0, 1.0], [-0.5, 1.0], [-1.0, 0.5]]
                .map(|pos| MeshVertex { pos, color: white })
                .to_vec(),
        ),
        indices: Arc::new(vec![0, 1, 2]),
    };
    buffers.prepare(device, queue, &pipeline, &unit_view(), &[rgb, veil]);
    let image = render(|pass| buffers.paint(pass, &pipeline));

    // The centroid, data (0, −1/6), is near pixel (31, 37); its centre is data
    // (−0.5/32, −5.5/32). Barycentric weights there are the expected colour.
    let (px, py) = (-0.5 / 32.0, -5.5 / 32.0);
    let [[ax, ay], [bx, by], [cx, cy]] = corners;
    let area = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay);
    let w_b = ((px - ax) * (cy - ay) - (cx - ax) * (py - ay)) / area;
    let w_c = ((bx - ax) * (py - ay) - (px - ax) * (by - ay)) / area;
    let expected = [1.0 - w_b - w_c, w_b, w_c];
    // Interpolation is exact up to 8-bit rounding on lavapipe.
    image.assert_rgb(31, 37, expected, 2.0 * BYTE, "centroid");
    image.assert_rgb(2, 2, [0.5; 3], 2.0 * BYTE, "half-opaque white over black");
    image.assert_black(2, 30, "outside both triangles");
}
