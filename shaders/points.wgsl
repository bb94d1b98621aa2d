// Points: one screen-aligned quad per point (an instance; its six vertices come from
// `vertex_index`, so there is no quad vertex buffer), shaded as an antialiased disc.

struct Uniforms {
    // Data → NDC: ndc = position * scale + offset.
    scale: vec2f,
    offset: vec2f,
    // Size of the viewport in physical pixels.
    viewport_px: vec2f,
    // Disc diameter in physical pixels.
    diameter_px: f32,
    // Padding so that `color` starts at byte 32 (a vec4f is 16-byte aligned).
    _pad: f32,
    // Straight (not premultiplied) RGBA.
    color: vec4f,
}

@group(0) @binding(0) var<uniform> uniforms: Uniforms;

struct VertexOutput {
    @builtin(position) position: vec4f,
    // Offset from the disc's centre in physical pixels.
    @location(0) offset_px: vec2f,
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

// True when neither coordinate is infinite or NaN (tested on the bits).
fn is_finite_2d(p: vec2f) -> bool {
    let exponent = bitcast<vec2u>(p) & vec2u(0x7f800000u);
    return all(exponent != vec2u(0x7f800000u));
}

@vertex
fn vs_main(@builtin(vertex_index) vertex_index: u32, @location(0) center: vec2f) -> VertexOutput {
    let corner = quad_corner(vertex_index);
    // Half the quad's side: the disc's radius plus one pixel for the antialiased rim.
    let half_side_px = 0.5 * uniforms.diameter_px + 1.0;
    let offset_px = corner * half_side_px;
    let center_ndc = center * uniforms.scale + uniforms.offset;

    var out: VertexOutput;
    out.position = vec4f(center_ndc + 2.0 * offset_px / uniforms.viewport_px, 0.0, 1.0);
    out.offset_px = offset_px;
    if !is_finite_2d(center) {
        // A depth outside [0, 1] clips the whole quad: points at NaN are not drawn.
        out.position = vec4f(0.0, 0.0, 2.0, 1.0);
    }
    return out;
}

@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4f {
    let radius_px = 0.5 * uniforms.diameter_px;
    // Coverage falls from 1 to 0 across one pixel centred on the rim.
    let coverage = 1.0 - smoothstep(radius_px - 0.5, radius_px + 0.5, length(in.offset_px));
    let alpha = uniforms.color.a * coverage;
    if alpha <= 0.0 {
        discard;
    }
    // egui blends premultiplied colour: (One, OneMinusSrcAlpha).
    return vec4f(uniforms.color.rgb * alpha, alpha);
}
