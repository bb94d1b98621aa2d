// Heatmap: one quad over a data-space rectangle, its values read from an R32Float texture
// (nearest cell, `textureLoad`) and mapped through a colour map. `colormap.wgsl` is prepended.

struct Uniforms {
    // Data → NDC: ndc = position * scale + offset.
    scale: vec2f,
    offset: vec2f,
    // Data-space corners of the grid: lowest x and y, highest x and y.
    extent_min: vec2f,
    extent_max: vec2f,
    // Value → colour-map coordinate (after the optional log): t = (v - value_min) * value_scale.
    value_min: f32,
    value_scale: f32,
    // Opacity multiplied into every fragment.
    alpha: f32,
    // `Colormap::index` of the colour map.
    colormap_index: u32,
    // 1: map log(1 + v) instead of v.
    log_scale: u32,
    // Padding to a multiple of 16 bytes.
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> uniforms: Uniforms;
// Row 0 of the texture is the grid's bottom row (lowest y).
@group(0) @binding(1) var values: texture_2d<f32>;

struct VertexOutput {
    @builtin(position) position: vec4f,
    // Position in the grid: (0, 0) at its lower-left corner, (1, 1) at its upper-right.
    @location(0) grid_uv: vec2f,
}

// Corners of two triangles, (0, 1, 2) and (0, 2, 3), over the square [-1, 1]².
fn quad_corner(vertex_index: u32) -> vec2f {
    var corners = array<vec2f, 6>(
        vec2f(-1.0, -1.0),
        vec2f(1.0, -1.0),
        vec2f(1.0, 1.0),
        vec2f(-1.0, -1.0),
        vec2f(1.0, 1.0),
        vec2f(-1.0, 1.0),
    );
    return corners[vertex_index % 6u];
}

@vertex
fn vs_main(@builtin(vertex_index) vertex_index: u32) -> VertexOutput {
    let grid_uv = 0.5 * quad_corner(vertex_index) + 0.5;
    let position = mix(uniforms.extent_min, uniforms.extent_max, grid_uv);
    var out: VertexOutput;
    out.position = vec4f(position * uniforms.scale + uniforms.offset, 0.0, 1.0);
    out.grid_uv = grid_uv;
    return out;
}

@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4f {
    let size = textureDimensions(values);
    let cell = min(vec2u(max(floor(in.grid_uv * vec2f(size)), vec2f(0.0))), size - vec2u(1u));
    var v = textureLoad(values, vec2i(cell), 0).r;
    if uniforms.log_scale != 0u {
        v = log(1.0 + v);
    }
    if value_is_nan(v) {
        discard;
    }
    let rgb = colormap(uniforms.colormap_index, (v - uniforms.value_min) * uniforms.value_scale);
    // egui blends premultiplied colour: (One, OneMinusSrcAlpha).
    return vec4f(rgb * uniforms.alpha, uniforms.alpha);
}
