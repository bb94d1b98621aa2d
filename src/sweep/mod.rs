//! Sweeps: a grid of run configurations × seeds, run in parallel, resumable, shardable across
//! machines, summarised as CSV and figures (issue #6).
//!
//! A sweep is a TOML file:
//!
//! ```toml
//! name = "width"            # used in figure titles
//! seeds = [0, 1, 2]         # every grid point runs once per seed
//!
//! [base]                    # a RunSpec: any field not given keeps its default
//! dataset = "chessboard"
//! iters = 2000
//! samplers = ["ode", "sde"]
//!
//! [grid]                    # fields to vary: the cartesian product of these lists
//! width = [32, 64, 128]
//!
//! [full]                    # with --full: the paper's sizes, over [base]
//! iters = 10000
//! ```
//!
//! A top-level `exclude = [{ field = value, … }, …]` leaves out the grid points that match an
//! entry in every field it names.
//!
//! Each run's result is one directory `runs/<id>/` holding `result.json` (written atomically:
//! to a temporary name, then renamed) and the trained checkpoint. A run whose `result.json`
//! exists is skipped, so an interrupted sweep resumes where it stopped. `--shard i/n` runs the
//! runs whose position in the expanded grid is `i` modulo `n`: the `n` shards partition the
//! grid, and `merge` joins their result directories into one summary.

mod error;
pub mod plot;
pub mod run;
mod store;
mod summary;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::{Result, SweepError};
pub use run::{RunResult, SamplerResult, execute, lenders};
pub use store::{collect_results, load_result, merge, pending, run_dir, store_result};
pub use summary::{mixes_backends, summary_csv, summary_markdown};

pub use crate::train::RunSpec;

/// The paper's experiments as sweep files (`sweeps/*.toml`), by name: `sweep --preset NAME`.
pub const PRESETS: [(&str, &str); 18] = [
    ("collapse2d", include_str!("../../sweeps/collapse2d.toml")),
    (
        "trends_width",
        include_str!("../../sweeps/trends_width.toml"),
    ),
    (
        "trends_iters",
        include_str!("../../sweeps/trends_iters.toml"),
    ),
    ("trends_data", include_str!("../../sweeps/trends_data.toml")),
    ("propagation", include_str!("../../sweeps/propagation.toml")),
    ("seesaw", include_str!("../../sweeps/seesaw.toml")),
    ("mitigations", include_str!("../../sweeps/mitigations.toml")),
    ("processes", include_str!("../../sweeps/processes.toml")),
    (
        "stochasticity",
        include_str!("../../sweeps/stochasticity.toml"),
    ),
    (
        "learning_rate",
        include_str!("../../sweeps/learning_rate.toml"),
    ),
    ("objectives", include_str!("../../sweeps/objectives.toml")),
    (
        "objectives_2d",
        include_str!("../../sweeps/objectives_2d.toml"),
    ),
    ("noise_scale", include_str!("../../sweeps/noise_scale.toml")),
    (
        "equal_budget",
        include_str!("../../sweeps/equal_budget.toml"),
    ),
    (
        "equal_budget_mog",
        include_str!("../../sweeps/equal_budget_mog.toml"),
    ),
    ("hill_k", include_str!("../../sweeps/hill_k.toml")),
    ("hill_k_mog", include_str!("../../sweeps/hill_k_mog.toml")),
    (
        "objectives_ablation",
        include_str!("../../sweeps/objectives_ablation.toml"),
    ),
];

/// Everything one run does: the one run description ([`RunSpec`]; its parts hold the
/// defaults). Sweep files may name its fields by their own names (`width`).
pub type RunConfig = RunSpec;

/// A sweep file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// A short name (figure titles).
    #[serde(default)]
    pub name: String,
    /// Seeds: every grid point runs once per seed.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// The configuration every run starts from.
    #[serde(default)]
    pub base: toml::Table,
    /// Field → values; the runs are the cartesian product (fields in alphabetical order).
    #[serde(default)]
    pub grid: toml::Table,
    /// Fields that replace `base` under `--full` (the paper's sizes).
    #[serde(default)]
    pub full: toml::Table,
    /// Grid points left out: a point is skipped when it has every field of one entry with
    /// that entry's value (e.g. `{ objective = "x0", process = "linear" }`).
    #[serde(default)]
    pub exclude: Vec<toml::Table>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// One expanded run.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRun {
    /// Position in the expanded grid (stable for a given spec).
    pub index: usize,
    /// Directory name: the grid values and the seed, e.g. `width=64,seed=1`.
    pub id: String,
    /// The grid values of this run (without the seed).
    pub params: BTreeMap<String, Value>,
    /// The full configuration.
    pub config: RunConfig,
}

impl SweepSpec {
    /// Reads and checks a sweep file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| SweepError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text).map_err(|e| SweepError::InFile {
            path: path.to_path_buf(),
            error: Box::new(e),
        })
    }

    /// Parses a sweep from TOML text.
    pub fn parse(text: &str) -> Result<Self> {
        let spec: Self = toml::from_str(text)?;
        let wrong = |m: String| Err(SweepError::Spec(m));
        if spec.seeds.is_empty() {
            return wrong("`seeds` is empty".into());
        }
        if spec.base.contains_key("seed") || spec.grid.contains_key("seed") {
            return wrong(
                "give seeds as the top-level `seeds = [...]`, not as a `seed` field".into(),
            );
        }
        for (k, v) in &spec.grid {
            match v {
                toml::Value::Array(a) if !a.is_empty() => {}
                _ => {
                    return wrong(format!(
                        "grid field `{k}` must be a non-empty list of values"
                    ));
                }
            }
        }
        for (i, e) in spec.exclude.iter().enumerate() {
            if e.is_empty() {
                return wrong(format!("exclude entry {} is empty", i + 1));
            }
            for (k, v) in e {
                let listed = spec
                    .grid
                    .get(k)
                    .and_then(toml::Value::as_array)
                    .is_some_and(|a| a.contains(v));
                if !listed {
                    return wrong(format!(
                        "exclude entry {} names {k} = {v}, which is not a value of the grid field `{k}`",
                        i + 1
                    ));
                }
            }
        }
        // Every run must be a valid configuration: check them all before anything runs.
        spec.expand()?;
        Ok(spec)
    }

    /// The grid's field names, in alphabetical order.
    pub fn grid_keys(&self) -> Vec<String> {
        self.grid.keys().cloned().collect()
    }

    /// Every run: the cartesian product of the grid (alphabetically first field slowest) ×
    /// seeds (fastest).
    pub fn expand(&self) -> Result<Vec<PlannedRun>> {
        let base = serde_json::to_value(&self.base)?;
        let Value::Object(base) = base else {
            return Err(SweepError::Spec("[base] is not a table".into()));
        };
        let keys = self.grid_keys();
        let lists: Vec<Vec<Value>> = keys
            .iter()
            .map(|k| match &self.grid[k] {
                toml::Value::Array(a) => a
                    .iter()
                    .map(serde_json::to_value)
                    .collect::<Result<Vec<_>, _>>(),
                _ => unreachable!("checked in parse"),
            })
            .collect::<Result<_, _>>()?;
        let combos: usize = lists.iter().map(Vec::len).product();
        let mut runs = Vec::with_capacity(combos * self.seeds.len());
        for c in 0..combos {
            // Mixed-radix digits of `c`, first field most significant.
            let mut rest = c;
            let mut digits = vec![0; lists.len()];
            for (i, l) in lists.iter().enumerate().rev() {
                digits[i] = rest % l.len();
                rest /= l.len();
            }
            let params: BTreeMap<String, Value> = keys
                .iter()
                .zip(&digits)
                .zip(&lists)
                .map(|((k, &d), l)| (k.clone(), l[d].clone()))
                .collect();
            let excluded = self.exclude.iter().any(|e| {
                e.iter()
                    .all(|(k, v)| serde_json::to_value(v).is_ok_and(|v| params.get(k) == Some(&v)))
            });
            if excluded {
                continue;
            }
            for &seed in &self.seeds {
                let at_point = |e: SweepError| SweepError::GridPoint {
                    point: describe(&params),
                    error: Box::new(e),
                };
                let seed_value = ("seed".to_string(), Value::from(seed));
                let fields = base
                    .iter()
                    .chain(
                        keys.iter()
                            .zip(&digits)
                            .zip(&lists)
                            .map(|((k, &d), l)| (k, &l[d])),
                    )
                    .chain(std::iter::once((&seed_value.0, &seed_value.1)));
                let nested = RunSpec::nest(fields).map_err(|m| at_point(SweepError::Spec(m)))?;
                let config: RunConfig =
                    serde_json::from_value(nested).map_err(|e| at_point(e.into()))?;
                run::check(&config).map_err(at_point)?;
                let mut id_parts: Vec<String> = keys
                    .iter()
                    .map(|k| format!("{k}={}", value_label(&params[k])))
                    .collect();
                id_parts.push(format!("seed={seed}"));
                runs.push(PlannedRun {
                    index: runs.len(),
                    id: sanitize(&id_parts.join(",")),
                    params: params.clone(),
                    config,
                });
            }
        }
        Ok(runs)
    }
}

/// `k=v, k=v` for messages.
fn describe(params: &BTreeMap<String, Value>) -> String {
    if params.is_empty() {
        return "(base)".into();
    }
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", value_label(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as it appears in ids, CSV cells and legends (strings without quotes).
pub fn value_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Keeps ids portable as directory names.
fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "=,.-_+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `i/n`: the `i`-th (0-based) of `n` disjoint parts of a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This part, `0 ≤ index < count`.
    pub index: usize,
    /// Number of parts.
    pub count: usize,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether run number `position` belongs to this shard (round-robin, so that each shard
    /// gets a similar mix of cheap and expensive grid points).
    pub fn contains(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

/// A `--shard` value that is not `i/n` with `0 <= i < n`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad shard '{0}': give i/n with 0 <= i < n (e.g. 0/4)")]
pub struct ShardError(String);

impl std::str::FromStr for Shard {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Self, ShardError> {
        let bad = || ShardError(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetKind;
    use crate::model::Architecture;

    const SPEC: &str = r#"
        name = "t"
        seeds = [0, 1]
        [base]
        dataset = "mog1d"
        iters = 10
        [grid]
        width = [8, 16, 32]
        arch = ["mlp", "skip"]
    "#;

    #[test]
    fn expansion_is_the_cartesian_product_times_seeds() {
        let spec = SweepSpec::parse(SPEC).unwrap();
        let plan = spec.expand().unwrap();
        assert_eq!(plan.len(), 3 * 2 * 2);
        // Fields alphabetically (arch slowest), seeds fastest.
        assert_eq!(plan[0].id, "arch=mlp,width=8,seed=0");
        assert_eq!(plan[1].id, "arch=mlp,width=8,seed=1");
        assert_eq!(plan[2].id, "arch=mlp,width=16,seed=0");
        assert_eq!(plan[11].id, "arch=skip,width=32,seed=1");
        assert_eq!(plan[3].config.model.width, Some(16));
        assert_eq!(plan[3].config.model.arch, Architecture::Mlp);
        assert_eq!(plan[5].config.model.arch, Architecture::Mlp);
        assert_eq!(plan[5].config.seed, 1);
        assert_eq!(plan[5].config.data.dataset, DatasetKind::Mog1d);
        assert_eq!(plan[5].config.training.iters, 10);
        // Fields not given keep their defaults.
        assert_eq!(plan[5].config.training.lr, RunConfig::default().training.lr);
        let ids: std::collections::HashSet<_> = plan.iter().map(|p| &p.id).collect();
        assert_eq!(ids.len(), plan.len(), "ids are unique");
        assert!(plan.iter().enumerate().all(|(i, p)| p.index == i));
    }

    #[test]
    fn every_preset_parses_and_its_full_variant_too() {
        for (name, text) in PRESETS {
            let mut spec = SweepSpec::parse(text).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(!spec.expand().unwrap().is_empty(), "{name}");
            assert!(!spec.full.is_empty(), "{name} has no [full] sizes");
            spec.base.extend(spec.full.clone());
            spec.expand()
                .unwrap_or_else(|e| panic!("{name} --full: {e:#}"));
        }
    }

    #[test]
    fn bad_specs_are_clear_errors() {
        let typo = SPEC.replace("width = [", "widht = [");
        let e = format!("{:#}", SweepSpec::parse(&typo).unwrap_err());
        assert!(e.contains("widht"), "{e}");
        let bad_name = SPEC.replace("\"skip\"", "\"skipp\"");
        let e = format!("{:#}", SweepSpec::parse(&bad_name).unwrap_err());
        assert!(e.contains("skipp"), "{e}");
        let empty = SPEC.replace("width = [8, 16, 32]", "width = []");
        assert!(SweepSpec::parse(&empty).is_err());
        let seed = SPEC.replace("iters = 10", "iters = 10\nseed = 3");
        assert!(SweepSpec::parse(&seed).is_err());
        // η without DDIM among the samplers (ode and sde by default) would change nothing.
        let eta = SPEC.replace("iters = 10", "iters = 10\neta = 0.5");
        let e = format!("{:#}", SweepSpec::parse(&eta).unwrap_err());
        assert!(e.contains("eta") && e.contains("ddim"), "{e}");
        let eta = SPEC.replace("iters = 10", "iters = 10\neta = 2.0\nsamplers = [\"ddim\"]");
        let e = format!("{:#}", SweepSpec::parse(&eta).unwrap_err());
        assert!(e.contains("[0, 1]"), "{e}");
        // An equal budget with steps, or below one step of a sampler.
        let both = SPEC.replace("iters = 10", "iters = 10\nnfe = 10\nsteps = 5");
        let e = format!("{:#}", SweepSpec::parse(&both).unwrap_err());
        assert!(e.contains("steps or nfe"), "{e}");
        let low = SPEC.replace("iters = 10", "iters = 10\nnfe = 1\nsamplers = [\"heun\"]");
        let e = format!("{:#}", SweepSpec::parse(&low).unwrap_err());
        assert!(
            e.contains("nfe") && e.contains("below one step of heun"),
            "{e}"
        );
    }

    /// `exclude` leaves out exactly the grid points that match an entry in every field it
    /// names (the objectives preset: x0, v and edm only on VP); an entry naming a value the
    /// grid does not have, or an objective its process or architecture cannot carry, is an
    /// error that names it.
    #[test]
    fn exclude_leaves_out_matching_points() {
        let text = r#"
            seeds = [0, 1]
            exclude = [{ objective = "x0", process = "linear" }, { objective = "v", process = "linear" }]
            [base]
            iters = 10
            [grid]
            objective = ["epsilon", "x0", "v"]
            process = ["vp", "linear"]
        "#;
        let runs = SweepSpec::parse(text).unwrap().expand().unwrap();
        let points: Vec<(String, String)> = runs
            .iter()
            .filter(|r| r.config.seed == 0)
            .map(|r| {
                (
                    r.config.model.objective.to_string(),
                    r.config.model.process.to_string(),
                )
            })
            .collect();
        let want = [
            ("epsilon", "vp"),
            ("epsilon", "linear"),
            ("x0", "vp"),
            ("v", "vp"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(points, want);
        assert_eq!(runs.len(), 8);
        // Indices stay dense (shards partition what runs).
        assert!(runs.iter().enumerate().all(|(i, r)| r.index == i));
        let typo = text.replace("process = \"linear\" }, {", "process = \"lineer\" }, {");
        let e = format!("{:#}", SweepSpec::parse(&typo).unwrap_err());
        assert!(e.contains("exclude entry 1") && e.contains("lineer"), "{e}");
        let skip = text.replace("iters = 10", "iters = 10\narch = \"skip-fixed\"");
        let e = format!("{:#}", SweepSpec::parse(&skip).unwrap_err());
        assert!(e.contains("cannot be used with arch = skip-fixed"), "{e}");
        // Every preset's exclusions name real grid values (checked by parse above for them).
        for (name, text) in PRESETS {
            SweepSpec::parse(text).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn shards_partition_the_grid_exactly() {
        let plan = SweepSpec::parse(SPEC).unwrap().expand().unwrap();
        for n in 1..=13 {
            let mut seen = vec![0; plan.len()];
            for i in 0..n {
                let s: Shard = format!("{i}/{n}").parse().unwrap();
                for p in plan.iter().filter(|p| s.contains(p.index)) {
                    seen[p.index] += 1;
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "n = {n}: {seen:?}");
        }
        assert!("3/3".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    fn fake_result(p: &PlannedRun, tid: f64) -> RunResult {
        RunResult {
            index: p.index,
            id: p.id.clone(),
            params: p.params.clone(),
            config: p.config.clone(),
            iterations: p.config.training.iters,
            final_loss: Some(0.5),
            train_seconds: 0.1,
            mae_low: None,
            mae_high: None,
            diverged: None,
            samplers: vec![SamplerResult {
                name: "ode".into(),
                steps: 100,
                nfe: Some(100),
                reference: None,
                seconds: 0.0,
                tid: vec![crate::metrics::TidEstimate::fixture(0.05, tid)],
                error_correlation: None,
            }],
            eps_nn_scale: None,
            trained_by: None,
            train_device: None,
            sample_device: None,
            cpu: None,
        }
    }

    #[test]
    fn resume_skips_finished_runs_and_refuses_foreign_ones() {
        let dir = tempfile::tempdir().unwrap();
        let plan = SweepSpec::parse(SPEC).unwrap().expand().unwrap();
        assert_eq!(pending(dir.path(), &plan, Shard::ALL).unwrap().len(), 12);
        for p in &plan[..5] {
            store_result(dir.path(), &fake_result(p, 0.1)).unwrap();
        }
        let todo = pending(dir.path(), &plan, Shard::ALL).unwrap();
        assert_eq!(todo.len(), 7);
        assert_eq!(todo[0].index, 5);
        // A result with another configuration under the same id is refused.
        let mut other = fake_result(&plan[6], 0.1);
        other.config.training.lr = 1.0;
        store_result(dir.path(), &other).unwrap();
        assert!(pending(dir.path(), &plan, Shard::ALL).is_err());
        // No temporary files are left behind.
        let leftovers = std::fs::read_dir(run_dir(dir.path(), &plan[0].id))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn merge_joins_shards_into_one_summary() {
        let plan = SweepSpec::parse(SPEC).unwrap().expand().unwrap();
        let shards: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        for (i, dir) in shards.iter().enumerate() {
            let s = Shard { index: i, count: 3 };
            for p in pending(dir.path(), &plan, s).unwrap() {
                // A real run also leaves its checkpoint in a subdirectory.
                let ckpt = run_dir(dir.path(), &p.id).join("checkpoint");
                std::fs::create_dir_all(&ckpt).unwrap();
                std::fs::write(ckpt.join("model.bin"), p.id.as_bytes()).unwrap();
                store_result(dir.path(), &fake_result(&p, p.index as f64)).unwrap();
            }
        }
        let out = tempfile::tempdir().unwrap();
        let dirs: Vec<std::path::PathBuf> = shards.iter().map(|d| d.path().to_path_buf()).collect();
        assert_eq!(merge(out.path(), &dirs).unwrap(), 12);
        for p in &plan {
            let ckpt = run_dir(out.path(), &p.id).join("checkpoint/model.bin");
            assert_eq!(std::fs::read(&ckpt).unwrap(), p.id.as_bytes());
        }
        // Merging again copies nothing.
        assert_eq!(merge(out.path(), &dirs).unwrap(), 0);
        assert!(pending(out.path(), &plan, Shard::ALL).unwrap().is_empty());
        let results = collect_results(out.path()).unwrap();
        assert_eq!(results.len(), 12);
        let csv = summary_csv(&results);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 13);
        assert!(lines[0].starts_with("id,arch,width,seed,"), "{}", lines[0]);
        assert!(lines[0].contains("tid_ode_eps0.05"), "{}", lines[0]);
        // TID's two terms follow, and add up to it (the fixtures' thresholds are equal: all
        // of TID is the top term's).
        let header: Vec<&str> = lines[0].split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (tid, top, thr) = (
            col("tid_ode_eps0.05"),
            col("tid_top_ode_eps0.05"),
            col("tid_thr_ode_eps0.05"),
        );
        assert!(tid < top && top < thr, "{}", lines[0]);
        for (k, line) in lines[1..].iter().enumerate() {
            // The quoted id holds commas: the cells after it.
            let cells: Vec<&str> = line.rsplit_once('"').unwrap().1.split(',').collect();
            // Row k holds run k's TID (the fake results store the index).
            assert_eq!(cells[tid].parse::<f64>().unwrap(), k as f64, "{line}");
            assert_eq!((cells[top], cells[thr]), (cells[tid], "0"), "{line}");
        }
        // The Markdown summary has one row per grid point, averaged over the 2 seeds: point
        // (arch=mlp, width=8) holds runs 0 and 1, TID 0 and 1 → 0.500 ± 0.707.
        let md = summary_markdown(&results);
        let rows: Vec<&str> = md.lines().collect();
        assert_eq!(rows.len(), 2 + 6, "{md}");
        assert!(rows[2].contains("| mlp | 8 | 2 |"), "{}", rows[2]);
        assert!(rows[2].ends_with("0.500 ± 0.707 |"), "{}", rows[2]);
        // Where the runs ran, when they say: two devices, counted.
        let mut placed = results.clone();
        for (k, r) in placed.iter_mut().enumerate() {
            r.train_device = Some(
                if k < 8 {
                    "CPU (burn flex)"
                } else {
                    "GPU (burn wgpu: X)"
                }
                .into(),
            );
        }
        assert!(!mixes_backends(&results), "none recorded: all on the CPU");
        assert!(mixes_backends(&placed));
        let md = summary_markdown(&placed);
        assert!(
            md.ends_with("\ntrained on: CPU (burn flex) (8 runs); GPU (burn wgpu: X) (4 runs)\n"),
            "{md}"
        );
        // CPUs: one instruction set (forced or not) is one backend; AVX-512 beside AVX2 is two.
        let mut cpus = results.clone();
        for (k, r) in cpus.iter_mut().enumerate() {
            r.cpu = Some(
                match k % 3 {
                    0 => "Intel(R) Xeon(R) Processor (AVX2 on an AVX-512 CPU, set by X)",
                    1 => "AMD EPYC 7B13 (AVX2)",
                    _ => "AMD EPYC 7B13 (AVX2)",
                }
                .into(),
            );
        }
        assert!(!mixes_backends(&cpus), "AVX2 code throughout");
        let md = summary_markdown(&cpus);
        assert!(md.ends_with("\nCPU: AMD EPYC 7B13 (AVX2) (8 runs); Intel(R) Xeon(R) Processor (AVX2 on an AVX-512 CPU, set by X) (4 runs)\n"), "{md}");
        cpus[1].cpu = Some("AMD EPYC 9R14 (AVX-512)".into());
        assert!(mixes_backends(&cpus), "AVX-512 beside AVX2");
    }
}
