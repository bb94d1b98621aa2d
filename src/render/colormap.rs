//! Colour maps, evaluated identically on the CPU (for legends and tests) and in WGSL
//! (`shaders/colormap.wgsl`, prepended to the shaders that colour by value).

/// The WGSL source of the colour maps (`colormap(index, t)`, `value_is_nan(v)`).
pub const SHADER: &str = include_str!("../../shaders/colormap.wgsl");

/// Colour maps, evaluated identically on the CPU (for legends/tests) and in WGSL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Colormap {
    /// Matplotlib's viridis (dark blue → green → yellow).
    #[default]
    Viridis,
    /// Matplotlib's magma (black → purple → orange → light yellow).
    Magma,
    /// blue–white–red, for signed values (0.5 = white)
    Diverging,
}

/// Matt Zucker's 6th-order polynomial fit of matplotlib's viridis
/// (<https://www.shadertoy.com/view/WlfXRN>, CC0): coefficients of t⁰ … t⁶, per channel.
#[expect(clippy::excessive_precision)] // Copied verbatim from colormap.wgsl.
const VIRIDIS: [[f32; 3]; 7] = [
    [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
    [0.1050930431085774, 1.404613529898575, 1.384590162594685],
    [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
    [-4.634230498983486, -5.799100973351585, -19.33244095627987],
    [6.228269936347081, 14.17993336680509, 56.69055260068105],
    [4.776384997670288, -13.74514537774601, -65.35303263337234],
    [-5.435455855934631, 4.645852612178535, 26.3124352495832],
];

/// Matt Zucker's 6th-order polynomial fit of matplotlib's magma (same source as [`VIRIDIS`]).
#[expect(clippy::excessive_precision)] // Copied verbatim from colormap.wgsl.
const MAGMA: [[f32; 3]; 7] = [
    [
        -0.002136485053939582,
        -0.000749655052795221,
        -0.005386127855323933,
    ],
    [0.2516605407371642, 0.6775232436837668, 2.494026599312351],
    [8.353717279216625, -3.577719514958484, 0.3144679030132573],
    [-27.66873308576866, 14.26473078096533, -13.64921318813922],
    [52.17613981234068, -27.94360607168351, 12.94416944238394],
    [-50.76852536473588, 29.04658282127291, 4.23415299384598],
    [18.65570506591883, -11.48977351997711, -5.601961508734096],
];

/// Ends and middle of [`Colormap::Diverging`]: the end colours of matplotlib's coolwarm.
const DIVERGING_BLUE: [f32; 3] = [0.230, 0.299, 0.754];
const DIVERGING_WHITE: [f32; 3] = [1.0, 1.0, 1.0];
const DIVERGING_RED: [f32; 3] = [0.706, 0.016, 0.150];

impl Colormap {
    /// Every colour map, in [`Colormap::index`] order (for pickers).
    pub const ALL: [Colormap; 3] = [Colormap::Viridis, Colormap::Magma, Colormap::Diverging];

    /// The colour at `v` in [0, 1] (clamped; NaN maps to 0) as sRGB-encoded values in
    /// [0, 1], exactly as the shaders output it.
    pub fn eval(&self, v: f32) -> [f32; 3] {
        let t = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        let rgb = match self {
            Colormap::Viridis => polynomial(&VIRIDIS, t),
            Colormap::Magma => polynomial(&MAGMA, t),
            Colormap::Diverging => {
                if t < 0.5 {
                    lerp(DIVERGING_BLUE, DIVERGING_WHITE, 2.0 * t)
                } else {
                    lerp(DIVERGING_WHITE, DIVERGING_RED, 2.0 * t - 1.0)
                }
            }
        };
        rgb.map(|c| c.clamp(0.0, 1.0))
    }

    /// The index the shaders use to select this map (`colormap(index, t)` in WGSL).
    pub fn index(&self) -> u32 {
        match self {
            Colormap::Viridis => 0,
            Colormap::Magma => 1,
            Colormap::Diverging => 2,
        }
    }

    /// A short lowercase name for menus and legends.
    pub fn name(&self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Magma => "magma",
            Colormap::Diverging => "diverging",
        }
    }
}

/// Horner evaluation of a 7-term polynomial per channel, c0 + t (c1 + t (c2 + … + t c6)), as
/// in `colormap.wgsl`.
fn polynomial(c: &[[f32; 3]; 7], t: f32) -> [f32; 3] {
    std::array::from_fn(|k| c.iter().rev().fold(0.0, |acc, row| acc * t + row[k]))
}

/// `a + (b - a) t` per channel, as in `colormap.wgsl`.
fn lerp(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    std::array::from_fn(|k| a[k] + (b[k] - a[k]) * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(got: [f32; 3], want: [f32; 3], tolerance: f32, what: &str) {
        for k in 0..3 {
            assert!(
                (got[k] - want[k]).abs() <= tolerance,
                "{what}: got {got:?}, want {want:?} (±{tolerance})"
            );
        }
    }

    #[test]
    fn polynomial_fits_match_matplotlib() {
        // Reference values are matplotlib's tables. The fits stay within 0.02 everywhere we
        // check; the largest miss is at viridis(0) (red 0.278 vs 0.267) and magma(0) (blue
        // -0.005 clamped to 0 vs 0.014), where the polynomials bend away at the ends.
        let tolerance = 0.02;
        let reference = [
            (Colormap::Viridis, 0.0, [0.267, 0.005, 0.329]),
            (Colormap::Viridis, 0.5, [0.128, 0.567, 0.551]),
            (Colormap::Viridis, 1.0, [0.993, 0.906, 0.144]),
            (Colormap::Magma, 0.0, [0.001, 0.000, 0.014]),
            (Colormap::Magma, 1.0, [0.987, 0.991, 0.750]),
        ];
        for (map, v, want) in reference {
            assert_close(
                map.eval(v),
                want,
                tolerance,
                &format!("{}({v})", map.name()),
            );
        }
    }

    #[test]
    fn diverging_is_white_in_the_middle_and_clamps() {
        // Exact up to f32 rounding of the interpolation.
        let tolerance = 1e-6;
        for (v, want) in [
            (0.5, DIVERGING_WHITE),
            (-3.0, DIVERGING_BLUE),
            (7.0, DIVERGING_RED),
        ] {
            let got = Colormap::Diverging.eval(v);
            assert_close(got, want, tolerance, &format!("diverging({v})"));
        }
        let viridis = Colormap::Viridis;
        assert_eq!(viridis.eval(f32::NAN), viridis.eval(0.0));
    }

    #[test]
    fn indices_follow_all() {
        for (i, map) in Colormap::ALL.iter().enumerate() {
            assert_eq!(map.index() as usize, i);
        }
    }
}
