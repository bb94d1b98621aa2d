//! Diagnostics of a trained U-Net (the demo checkpoint, or the directory given as the first
//! argument):
//! one-step ε/x̂0 errors, batch and time-label consistency, per-band losses, the per-channel DC
//! of ε̂ vs ε, and DDIM with and without x̂0 clipping (grids in /tmp/dbg/).
use burn::tensor::{Device, Tensor, TensorData};
use collapse_explorer::data::Points;
use collapse_explorer::diffusion::loss::{Band, NoisedBatch, dsm_loss_tensor};
use collapse_explorer::diffusion::model::{to_host, to_tensor};
use collapse_explorer::diffusion::{
    EpsilonModel, NoiseProcess, SamplerConfig, SamplerKind, Times, sample_from,
};
use collapse_explorer::images::*;
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, StandardNormal};

fn main() {
    let dev = Device::flex();
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "checkpoints/demo-shapes16".into());
    let net = UNet::load(&std::path::Path::new(&dir).join("ema.safetensors"), &dev).unwrap();
    let (images, _) = generate_shapes(
        64,
        0,
        &ShapesConfig {
            size: 16,
            ..Default::default()
        },
    );
    let pts = images.to_points(train::pixel_scale(&net));
    let p = net.process();
    let n = 16;
    let d = pts.d;
    let x0: Vec<f32> = pts.data[..n * d].to_vec();
    println!("x0 rms {}", rms(&x0));
    for &t in &[0.1f64, 0.3, 0.5, 0.8] {
        let (a, s) = (p.alpha(t), p.sigma(t));
        let (eps, xt) = noised(&x0, &p, t, 3);
        let e_shared = to_host(net.epsilon(to_tensor(&xt, n, d, &dev), &Times::Shared(t)));
        let e_row = to_host(net.epsilon(to_tensor(&xt, n, d, &dev), &Times::PerRow(vec![t; n])));
        let e_one = to_host(net.epsilon(to_tensor(&xt[..d], 1, d, &dev), &Times::Shared(t)));
        let mse = |e: &[f32]| {
            e.iter()
                .zip(&eps)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                / e.len() as f64
        };
        let x0hat: Vec<f32> = xt
            .iter()
            .zip(&e_shared)
            .map(|(x, e)| ((*x as f64 - s * *e as f64) / a) as f32)
            .collect();
        let x0err = x0hat
            .iter()
            .zip(&x0)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            / x0.len() as f64;
        let d1 = e_one
            .iter()
            .zip(&e_shared[..d])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let dr = e_row
            .iter()
            .zip(&e_shared)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!(
            "t {t}: eps mse shared {:.4} perrow {:.4}; x0hat mse {:.4}; |batch1-batch16| {d1:.2e} |row-shared| {dr:.2e}; eps_hat rms {:.3}",
            mse(&e_shared),
            mse(&e_row),
            x0err,
            rms(&e_shared)
        );
    }
    for band in [
        Band { lo: 1e-5, hi: 0.1 },
        Band { lo: 0.1, hi: 0.5 },
        Band { lo: 0.5, hi: 0.9 },
        Band { lo: 0.9, hi: 1.0 },
    ] {
        let b = NoisedBatch::draw(&pts, &p, band, 32, &mut StdRng::seed_from_u64(1));
        let l = dsm_loss_tensor(&net, &b, &dev).into_scalar::<f32>();
        println!("band {:?} loss {l:.4}", band);
    }
    // pure noise eps prediction at t=1
    let noise: Vec<f32> = {
        let mut r = StdRng::seed_from_u64(9);
        (0..n * d).map(|_| StandardNormal.sample(&mut r)).collect()
    };
    for &t in &[1.0f64, 0.9, 0.7] {
        let e = to_host(net.epsilon(to_tensor(&noise, n, d, &dev), &Times::Shared(t)));
        let dot: f64 = e
            .iter()
            .zip(&noise)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum::<f64>()
            / (n * d) as f64;
        println!(
            "pure noise t {t}: eps_hat rms {:.3}, <eps_hat, x> {:.3}",
            rms(&e),
            dot
        );
    }
    // DDIM trajectory RMS
    let cfg = SamplerConfig::new(SamplerKind::Ddim)
        .with_steps(25)
        .recording();
    let out = sample_from(
        &net,
        &cfg,
        Points::new(n, d, noise.clone()),
        1,
        &dev,
        &mut |_, _| {},
    )
    .expect("finite samples");
    let tr = out.trajectory.unwrap();
    for (i, t) in out.times.iter().enumerate() {
        if i % 5 == 0 || i == out.times.len() - 1 {
            println!(
                "ddim step {i} t {t:.3} rms {:.3}",
                rms(&tr[i * n * d..(i + 1) * n * d])
            );
        }
    }
    let _ = (Tensor::<2>::from_data(
        TensorData::new(vec![0f32], [1, 1]),
        &dev,
    ),);
    // error structure at t = 0.9: how much of eps_hat - eps is a per-image-per-channel constant
    {
        let t = 0.9;
        let s = p.sigma(t);
        let (eps, xt) = noised(&x0, &p, t, 4);
        let e = to_host(net.epsilon(to_tensor(&xt, n, d, &dev), &Times::Shared(t)));
        let err: Vec<f32> = e.iter().zip(&eps).map(|(a, b)| a - b).collect();
        let hw = d / 3;
        let mut const_part = 0f64;
        for ch in err.chunks(hw) {
            let m = ch.iter().map(|v| *v as f64).sum::<f64>() / hw as f64;
            const_part += m * m * hw as f64;
        }
        let tot: f64 = err.iter().map(|v| (*v as f64).powi(2)).sum();
        let triv: f64 = xt
            .iter()
            .zip(&eps)
            .map(|(x, e)| ((*x as f64 / s) - *e as f64).powi(2))
            .sum::<f64>()
            / (n * d) as f64;
        let dc = |v: &[f32]| -> Vec<f64> {
            v.chunks(hw)
                .map(|c| c.iter().map(|x| *x as f64).sum::<f64>() / hw as f64)
                .collect()
        };
        let (de, dh) = (dc(&eps), dc(&e));
        let xs: Vec<f32> = xt.iter().map(|x| (*x as f64 / s) as f32).collect();
        let dx = dc(&xs);
        let rmsv = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
        let diff =
            |a: &[f64], b: &[f64]| rmsv(&a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>());
        println!(
            "t 0.9 per-channel DC rms: eps {:.4} eps_hat {:.4} x/sigma {:.4}; |DC eps_hat - DC x/sigma| {:.4}",
            rmsv(&de),
            rmsv(&dh),
            rmsv(&dx),
            diff(&dh, &dx)
        );
        println!(
            "t 0.9: eps err mse {:.5}, constant-per-channel share {:.3}, trivial x/sigma mse {:.6}",
            tot / (n * d) as f64,
            const_part / tot,
            triv
        );
    }
    // DDIM with x0-hat clipped to [-1, 1]
    struct Clip<'a>(&'a UNet);
    impl EpsilonModel for Clip<'_> {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn process(&self) -> collapse_explorer::diffusion::NoiseProcess {
            self.0.process()
        }
        fn epsilon(&self, x: Tensor<2>, t: &Times) -> Tensor<2> {
            let p = self.0.process();
            let dev = x.device();
            let e = self.0.epsilon(x.clone(), t);
            let x0 = t
                .coefficient(&dev, |t| 1.0 / p.alpha(t))
                .mul(x.clone().sub(t.coefficient(&dev, |t| p.sigma(t)).mul(e)))
                .clamp(-1.0, 1.0);
            t.coefficient(&dev, |t| 1.0 / p.sigma(t))
                .mul(x.sub(t.coefficient(&dev, |t| p.alpha(t)).mul(x0)))
        }
    }
    let m = 64;
    let noise64: Vec<f32> = {
        let mut r = StdRng::seed_from_u64(11);
        (0..m * d).map(|_| StandardNormal.sample(&mut r)).collect()
    };
    for (name, model) in [
        ("plain", &net as &dyn EpsilonModel),
        ("clipx0", &Clip(&net) as &dyn EpsilonModel),
    ] {
        let out = sample_from(
            model,
            &cfg,
            Points::new(m, d, noise64.clone()),
            1,
            &dev,
            &mut |_, _| {},
        )
        .expect("finite samples");
        let tr = out.trajectory.unwrap();
        let rs: Vec<String> = (0..out.times.len())
            .step_by(5)
            .map(|i| format!("{:.2}", rms(&tr[i * m * d..(i + 1) * m * d])))
            .collect();
        println!(
            "{name}: rms every 5 steps {rs:?}, final {:.3}",
            rms(&out.samples.data)
        );
        let set =
            ImageSet::from_points(name, &out.samples, 3, 16, 16, PixelScale::Centered).unwrap();
        set.write_grid_png(
            std::path::Path::new(&format!("/tmp/dbg/unetdbg_{name}.png")),
            &(0..64).collect::<Vec<_>>(),
            8,
            4,
        )
        .unwrap();
    }
    images
        .write_grid_png(
            std::path::Path::new("/tmp/dbg/unetdbg_train.png"),
            &(0..64).collect::<Vec<_>>(),
            8,
            4,
        )
        .unwrap();
}
/// `ε ~ N(0, I)` from `seed` and `x_t = α(t) x0 + σ(t) ε`.
fn noised(x0: &[f32], p: &NoiseProcess, t: f64, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let (a, s) = (p.alpha(t), p.sigma(t));
    let mut rng = StdRng::seed_from_u64(seed);
    let eps: Vec<f32> = (0..x0.len())
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let xt = x0
        .iter()
        .zip(&eps)
        .map(|(x, e)| (a * *x as f64 + s * *e as f64) as f32)
        .collect();
    (eps, xt)
}

fn rms(v: &[f32]) -> f64 {
    (v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}
