// Mesh: indexed triangles with per-vertex straight RGBA colour, drawn in index order (no depth
// buffer: the caller sorts back to front).

struct Uniforms {
    // Data → NDC: ndc = position * scale + offset.
    scale: vec2f,
    offset: vec2f,
}

@group(0) @binding(0) var<uniform> uniforms: Uniforms;

struct VertexOutput {
    @builtin(position) position: vec4f,
    // Straight RGBA, interpolated across the triangle.
    @location(0) color: vec4f,
}

@vertex
fn vs_main(@location(0) position: vec2f, @location(1) color: vec4f) -> VertexOutput {
    var out: VertexOutput;
    out.position = vec4f(position * uniforms.scale + uniforms.offset, 0.0, 1.0);
    out.color = color;
    return out;
}

@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4f {
    // egui blends premultiplied colour: (One, OneMinusSrcAlpha).
    return vec4f(in.color.rgb * in.color.a, in.color.a);
}
