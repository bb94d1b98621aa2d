// Colour maps shared by the pipelines that colour by value; this file is prepended to their
// shaders when the pipelines are built.
//
// Viridis and magma are Matt Zucker's 6th-order polynomial fits of matplotlib's maps
// (https://www.shadertoy.com/view/WlfXRN, CC0). `src/render/colormap.rs` holds the same
// coefficients, so that `Colormap::eval` on the CPU matches what this file draws.
// Every map returns sRGB-encoded colour in [0, 1], which is what egui writes to its
// (non-sRGB) framebuffer.

fn colormap_viridis(t: f32) -> vec3f {
    let c0 = vec3f(0.2777273272234177, 0.005407344544966578, 0.3340998053353061);
    let c1 = vec3f(0.1050930431085774, 1.404613529898575, 1.384590162594685);
    let c2 = vec3f(-0.3308618287255563, 0.214847559468213, 0.09509516302823659);
    let c3 = vec3f(-4.634230498983486, -5.799100973351585, -19.33244095627987);
    let c4 = vec3f(6.228269936347081, 14.17993336680509, 56.69055260068105);
    let c5 = vec3f(4.776384997670288, -13.74514537774601, -65.35303263337234);
    let c6 = vec3f(-5.435455855934631, 4.645852612178535, 26.3124352495832);
    return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
}

fn colormap_magma(t: f32) -> vec3f {
    let c0 = vec3f(-0.002136485053939582, -0.000749655052795221, -0.005386127855323933);
    let c1 = vec3f(0.2516605407371642, 0.6775232436837668, 2.494026599312351);
    let c2 = vec3f(8.353717279216625, -3.577719514958484, 0.3144679030132573);
    let c3 = vec3f(-27.66873308576866, 14.26473078096533, -13.64921318813922);
    let c4 = vec3f(52.17613981234068, -27.94360607168351, 12.94416944238394);
    let c5 = vec3f(-50.76852536473588, 29.04658282127291, 4.23415299384598);
    let c6 = vec3f(18.65570506591883, -11.48977351997711, -5.601961508734096);
    return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
}

// Blue at 0, white at 0.5, red at 1 (the end colours of matplotlib's "coolwarm"), linear in
// sRGB-encoded values between them.
fn colormap_diverging(t: f32) -> vec3f {
    let blue = vec3f(0.230, 0.299, 0.754);
    let white = vec3f(1.0, 1.0, 1.0);
    let red = vec3f(0.706, 0.016, 0.150);
    if t < 0.5 {
        return blue + (white - blue) * (2.0 * t);
    }
    return white + (red - white) * (2.0 * t - 1.0);
}

// Maps `t` (clamped to [0, 1]) through the colour map with `Colormap::index` `index`
// (0: viridis, 1: magma, 2: diverging).
fn colormap(index: u32, t_unclamped: f32) -> vec3f {
    let t = clamp(t_unclamped, 0.0, 1.0);
    var rgb: vec3f;
    switch index {
        case 1u: {
            rgb = colormap_magma(t);
        }
        case 2u: {
            rgb = colormap_diverging(t);
        }
        default: {
            rgb = colormap_viridis(t);
        }
    }
    return clamp(rgb, vec3f(0.0), vec3f(1.0));
}

// True for NaN, tested on the bits so that no fast-math rewrite of `v != v` can hide it.
fn value_is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}
