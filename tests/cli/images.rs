//! End-to-end: image models (U-Net training, diffusers checkpoints) and traced pictures.

use crate::{bin, ok};

/// `train-unet` on a tiny procedural set, then `images` on its checkpoint: TID table, sample and
/// nearest-neighbour grids, JSON; a training set of another size is a clear error.
#[test]
fn train_unet_then_images() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("unet");
    ok(bin()
        .args([
            "train-unet",
            "--data",
            "procedural",
            "--n",
            "64",
            "--size",
            "8",
        ])
        .args(["--config", "tiny", "--iters", "3", "--batch", "8", "--out"])
        .arg(&ckpt));
    for f in [
        "model.safetensors",
        "model.json",
        "ema.safetensors",
        "training.json",
    ] {
        assert!(ckpt.join(f).exists(), "{f}");
    }
    let res = dir.path().join("res");
    let out = bin()
        .args(["images", "--checkpoint"])
        .arg(&ckpt)
        .args([
            "--n", "40", "--steps", "3", "--tid-n", "40", "--eps", "0.5,2",
        ])
        .args(["--queries", "2", "--k", "3", "--device", "cpu", "--out"])
        .arg(&res)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("TID") && stdout.contains("sde"), "{stdout}");
    for f in [
        "samples_ode.png",
        "samples_sde.png",
        "nn_query0.png",
        "nn_query1.png",
    ] {
        assert!(res.join(f).exists(), "{f}");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(res.join("images.json")).unwrap()).unwrap();
    assert_eq!(v["samplers"].as_array().unwrap().len(), 2);
    assert_eq!(v["samplers"][0]["tid"].as_array().unwrap().len(), 2);
    assert_eq!(v["queries"][0]["neighbours"].as_array().unwrap().len(), 3);
    // Every sample as float32 .npy [n, C, H, W] in [0, 1]: the ones the grids measured (the
    // first query's nearest ODE neighbours are at the recorded distances).
    let bytes = std::fs::read(res.join("samples_ode.npy")).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(
        header.contains("'<f4'") && header.contains("(40, 3, 8, 8)"),
        "{header}"
    );
    let pixels: Vec<f32> = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(pixels.len(), 40 * 3 * 8 * 8);
    assert!(pixels.iter().all(|p| (0.0..=1.0).contains(p)));
    let image = |i: u64| &pixels[i as usize * 192..(i as usize + 1) * 192];
    let query = image(v["queries"][0]["index"].as_u64().unwrap());
    for nb in v["queries"][0]["neighbours"][0].as_array().unwrap() {
        let other = image(nb["index"].as_u64().unwrap());
        let d: f64 = query
            .iter()
            .zip(other)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let recorded = nb["distance"].as_f64().unwrap();
        assert!((d - recorded).abs() < 1e-4, "{d} vs {recorded}");
    }
    assert!(res.join("samples_sde.npy").exists());
    // The NN grid: 3 rows of 1 + 3 tiles of 8·8 pixels (scale 8), gaps 1 and 1 + 8.
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(res.join("nn_query0.png")).unwrap(),
    ));
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (4 * 64 + 5 + 9, 3 * 64 + 4));

    // A 16×16 training set for an 8×8 model.
    let out = bin()
        .args(["images", "--checkpoint"])
        .arg(&ckpt)
        .args([
            "--data",
            "procedural",
            "--data-n",
            "50",
            "--data-size",
            "16",
        ])
        .args(["--n", "10", "--out"])
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("16×16") && err.contains("8×8"), "{err}");
    // A missing checkpoint.
    let out = bin()
        .args(["images", "--checkpoint", "/nonexistent/unet", "--out"])
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

/// A diffusers directory written by diffusers' own `save_pretrained`
/// (`tools/make_diffusers_fixture.py`) opens in `unet-eval`, which gives diffusers' ε̂ to 1e-4
/// and states its convention, and in `images`.
#[test]
fn diffusers_directory_in_unet_eval_and_images() {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusers");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("reference.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    for (name, range) in [("ddpm", [-1.0, 1.0]), ("legacy", [0.0, 1.0])] {
        let r = &reference[name];
        let (x, eps, t) = (floats(&r["x"]), floats(&r["eps"]), floats(&r["t"]));
        let per = x.len() / t.len();
        // One image per call: unet-eval takes one t for its whole batch.
        for (i, &ti) in t.iter().enumerate() {
            let xin = dir.path().join(format!("{name}{i}.npy"));
            let xout = dir.path().join(format!("{name}{i}-eps.npy"));
            collapse_explorer::data::io::write_npy(&xin, &[1, 3, 8, 8], &x[i * per..(i + 1) * per])
                .unwrap();
            let out = ok(bin()
                .args(["unet-eval", "--checkpoint"])
                .arg(fixtures.join(name))
                .arg("--x")
                .arg(&xin)
                .args(["--t", &ti.to_string(), "--json", "--out"])
                .arg(&xout));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["prediction_type"], "epsilon");
            assert_eq!(v["data_range"][0].as_f64().unwrap(), range[0]);
            let label = v["time_label"].as_f64().unwrap();
            let want = r["timesteps"][i].as_f64().unwrap();
            assert!((label - want).abs() < 1e-3, "{label} vs {want}");
            assert!(
                v["time_input"].as_str().unwrap().contains("N = 1000"),
                "{v}"
            );
            // A float32 .npy [1, 3, 8, 8]: the header names the shape, the values end the file.
            let bytes = std::fs::read(&xout).unwrap();
            assert!(String::from_utf8_lossy(&bytes[..128]).contains("'shape': (1, 3, 8, 8)"));
            let got: Vec<f32> = bytes[bytes.len() - 4 * per..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let err = got
                .iter()
                .zip(&eps[i * per..(i + 1) * per])
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err <= 1e-4, "{name} image {i}: {err}");
        }
    }
    // A batch of the wrong size is refused with the shape the network takes.
    let bad = dir.path().join("bad.npy");
    collapse_explorer::data::io::write_npy(&bad, &[1, 3, 16, 16], &[0.0; 768]).unwrap();
    let out = bin()
        .args(["unet-eval", "--checkpoint"])
        .arg(fixtures.join("ddpm"))
        .arg("--x")
        .arg(&bad)
        .args(["--t", "0.5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[B, 3, 8, 8]"), "{err}");

    // The images study on the diffusers network, with procedural 8×8 training images.
    let res = dir.path().join("res");
    let out = bin()
        .args(["images", "--checkpoint"])
        .arg(fixtures.join("ddpm"))
        .args(["--data", "procedural", "--data-n", "60", "--data-size", "8"])
        .args(["--n", "12", "--steps", "2", "--tid-n", "12", "--eps", "1,4"])
        .args(["--queries", "1", "--k", "2", "--device", "cpu", "--out"])
        .arg(&res)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("forward passes"), "{stderr}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(res.join("images.json")).unwrap()).unwrap();
    assert!(
        v["model"]
            .as_str()
            .unwrap()
            .contains("diffusers UNet2DModel"),
        "{v}"
    );
}

/// `train --data picture.png` traces the picture into --n points and records it in the
/// checkpoint, which `compare` reopens (tracing it again from the recorded seed).
#[test]
fn train_on_a_traced_picture() {
    let dir = tempfile::tempdir().unwrap();
    let smiley = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/data/smiley.png");
    let run = dir.path().join("run");
    ok(bin()
        .args(["train", "--data"])
        .arg(&smiley)
        .args([
            "--n", "3000", "--iters", "20", "--width", "16", "--depth", "1", "--batch", "200",
        ])
        .args(["--device", "cpu", "--out"])
        .arg(&run));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("model.json")).unwrap()).unwrap();
    assert_eq!(meta["data"]["source"], "picture", "{meta}");
    assert_eq!(meta["data"]["n"], 3000);
    let out = ok(bin().args(["compare", "--model"]).arg(&run).args([
        "--samplers",
        "ode,sde",
        "--n",
        "500",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["samplers"].as_array().unwrap().len(), 2);
}
