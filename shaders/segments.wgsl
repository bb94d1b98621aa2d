// Segments: thick antialiased line segments, one quad per segment (an instance; its six
// vertices come from `vertex_index`). Coloured by a solid colour or by a value interpolated
// along the segment and mapped through a colour map. `colormap.wgsl` is prepended.

struct Uniforms {
    // Data → NDC: ndc = position * scale + offset.
    scale: vec2f,
    offset: vec2f,
    // Size of the viewport in physical pixels.
    viewport_px: vec2f,
    // Line width in physical pixels.
    width_px: f32,
    // Opacity multiplied into every fragment.
    alpha: f32,
    // Straight RGBA, used when `mode` is 0.
    color: vec4f,
    // Value → colour-map coordinate: t = (value - value_min) * value_scale.
    value_min: f32,
    value_scale: f32,
    // `Colormap::index` of the colour map, used when `mode` is 1.
    colormap_index: u32,
    // 0: solid colour; 1: colour map.
    mode: u32,
}

@group(0) @binding(0) var<uniform> uniforms: Uniforms;

struct VertexInput {
    @location(0) a: vec2f,
    @location(1) b: vec2f,
    // Values at `a` and at `b`.
    @location(2) values: vec2f,
}

struct VertexOutput {
    @builtin(position) position: vec4f,
    // Signed distance across the line from its centre line, in physical pixels.
    @location(0) across_px: f32,
    // Distance along the segment from `a`, in physical pixels.
    @location(1) along_px: f32,
    // Position along the segment: 0 at `a`, 1 at `b` (beyond them on the rim).
    @location(2) along_t: f32,
    // Length of the segment in physical pixels.
    @location(3) @interpolate(flat) length_px: f32,
    // Values at `a` and at `b`.
    @location(4) @interpolate(flat) values: vec2f,
}

// Corners of two triangles, (0, 1, 2) and (0, 2, 3), over the square [-1, 1]²: x runs from
// `a` (-1) to `b` (+1), y across the line.
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

// True when neither coordinate is infinite or NaN (tested on the bits).
fn is_finite_2d(p: vec2f) -> bool {
    let exponent = bitcast<vec2u>(p) & vec2u(0x7f800000u);
    return all(exponent != vec2u(0x7f800000u));
}

@vertex
fn vs_main(@builtin(vertex_index) vertex_index: u32, input: VertexInput) -> VertexOutput {
    let corner = quad_corner(vertex_index);
    let half_viewport_px = 0.5 * uniforms.viewport_px;
    // End points in pixels from the viewport's centre (y up).
    let a_px = (input.a * uniforms.scale + uniforms.offset) * half_viewport_px;
    let b_px = (input.b * uniforms.scale + uniforms.offset) * half_viewport_px;
    let length_px = length(b_px - a_px);
    var direction = vec2f(1.0, 0.0);
    if length_px > 1e-6 {
        direction = (b_px - a_px) / length_px;
    }
    let normal = vec2f(-direction.y, direction.x);

    // The quad reaches one pixel beyond the line on every side for the antialiased rim.
    let along_px = (0.5 * corner.x + 0.5) * length_px + corner.x;
    let across_px = corner.y * (0.5 * uniforms.width_px + 1.0);
    let position_px = a_px + direction * along_px + normal * across_px;

    var out: VertexOutput;
    out.position = vec4f(position_px / half_viewport_px, 0.0, 1.0);
    out.across_px = across_px;
    out.along_px = along_px;
    out.along_t = along_px / max(length_px, 1e-6);
    out.length_px = length_px;
    out.values = input.values;
    if !is_finite_2d(input.a) || !is_finite_2d(input.b) {
        // A depth outside [0, 1] clips the whole quad: segments touching NaN are not drawn.
        out.position = vec4f(0.0, 0.0, 2.0, 1.0);
    }
    return out;
}

@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4f {
    // Coverage ramps over one pixel at the sides and at the (butt) ends.
    let side = clamp(0.5 * uniforms.width_px + 0.5 - abs(in.across_px), 0.0, 1.0);
    let ends = clamp(min(in.along_px, in.length_px - in.along_px) + 0.5, 0.0, 1.0);

    var rgba = uniforms.color;
    if uniforms.mode == 1u {
        let value = mix(in.values.x, in.values.y, clamp(in.along_t, 0.0, 1.0));
        if value_is_nan(value) {
            discard;
        }
        let t = (value - uniforms.value_min) * uniforms.value_scale;
        rgba = vec4f(colormap(uniforms.colormap_index, t), 1.0);
    }
    let alpha = rgba.a * uniforms.alpha * side * ends;
    if alpha <= 0.0 {
        discard;
    }
    // egui blends premultiplied colour: (One, OneMinusSrcAlpha).
    return vec4f(rgba.rgb * alpha, alpha);
}
