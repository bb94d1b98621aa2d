//! `sweep`: run a grid of configurations × seeds (see [`crate::sweep`]), and `sweep merge`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::device::{AUTO_GPU_MIN_PARAMS, DeviceChoice, hardware_gpu};
use crate::sweep::{
    PRESETS, PlannedRun, Shard, SweepSpec, collect_results, execute, lenders, merge,
    mixes_backends, pending, plot, store_result, summary_csv, summary_markdown,
};
use crate::sync::lock;

/// Arguments of `sweep`.
///
/// The default sizes of the example sweeps under `sweeps/` finish on a 2-core machine in
/// minutes; `--full` switches to the paper's sizes (the file's `[full]` table).
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    /// `merge`: join shard directories.
    #[command(subcommand)]
    pub action: Option<SweepAction>,
    /// The sweep file (TOML: `seeds`, `[base]`, `[grid]`, optional `[full]`).
    #[arg(required_unless_present = "preset", conflicts_with = "preset")]
    pub spec: Option<PathBuf>,
    /// A built-in experiment instead of a file: collapse2d, trends_width, trends_iters,
    /// trends_data, propagation, seesaw, mitigations, processes, stochasticity, learning_rate,
    /// objectives, objectives_2d, noise_scale, equal_budget, equal_budget_mog, hill_k,
    /// hill_k_mog, objectives_ablation (the files under `sweeps/`).
    #[arg(long)]
    pub preset: Option<String>,
    /// Results directory (runs/<id>/result.json + checkpoint, summary.csv, figures).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Runs at once (each on one thread when more than 1; default: one run using every core).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Where runs train and sample: `auto` takes a real GPU for MLPs of 200,000 parameters or
    /// more (the paper's width-1,000 models) and the fused CPU path below, where it is faster.
    /// Each result records its devices; the same seed gives the same numbers on one backend.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Run only the i-th (0-based) of n disjoint parts, e.g. `--shard $SLURM_ARRAY_TASK_ID/8`.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Use the paper's sizes: apply the file's `[full]` table over `[base]`.
    #[arg(long)]
    pub full: bool,
    /// Print the runs and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Another sweep's results directory whose finished runs lend their trained models: a run
    /// that trains the same model (data, network, training, seed) loads its weights instead
    /// of training again, and its result names the run it came from (`trained_by`).
    /// Repeatable.
    #[arg(long, value_name = "DIR")]
    pub reuse_training: Vec<PathBuf>,
}

/// `sweep` subcommands.
#[derive(Subcommand, Debug)]
pub enum SweepAction {
    /// Copy the finished runs of shard directories into one, then write its summary and
    /// figures (with only `--out`, re-summarise that directory).
    Merge {
        /// The merged results directory.
        #[arg(long)]
        out: PathBuf,
        /// Shard results directories.
        shards: Vec<PathBuf>,
    },
}

/// Runs `sweep`.
pub fn sweep_cmd(a: SweepArgs) -> Result<()> {
    if let Some(SweepAction::Merge { out, shards }) = a.action {
        std::fs::create_dir_all(&out)?;
        let copied = merge(&out, &shards)?;
        eprintln!("merged {copied} runs into {}", out.display());
        // The sweep's name for the figure titles, from the file a run (or a shard) left.
        let name = std::iter::once(&out)
            .chain(&shards)
            .find_map(|d| std::fs::read_to_string(d.join("sweep.toml")).ok())
            .and_then(|text| SweepSpec::parse(&text).ok())
            .map(|spec| spec.name)
            .unwrap_or_default();
        return summarise(&out, &name);
    }
    let (source, text) = match (&a.spec, &a.preset) {
        (Some(path), _) => (
            path.display().to_string(),
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the sweep file {}", path.display()))?,
        ),
        (None, Some(name)) => {
            let (_, text) = PRESETS.iter().find(|(n, _)| n == name).with_context(|| {
                format!(
                    "unknown preset '{name}'; known: {}",
                    PRESETS.map(|(n, _)| n).join(", ")
                )
            })?;
            (format!("preset {name}"), text.to_string())
        }
        (None, None) => bail!("give a sweep file or --preset"),
    };
    let mut spec = SweepSpec::parse(&text).with_context(|| format!("in {source}"))?;
    if a.full {
        if spec.full.is_empty() {
            bail!("{source} has no [full] table");
        }
        spec.base.extend(spec.full.clone());
    }
    let plan = spec.expand()?;
    for d in &a.reuse_training {
        if !d.join("runs").is_dir() {
            bail!(
                "--reuse-training {}: not a results directory (it has no runs/)",
                d.display()
            );
        }
    }
    let shard = a.shard.unwrap_or(Shard::ALL);
    std::fs::create_dir_all(&a.out)?;
    let todo = pending(&a.out, &plan, shard)?;
    let mine = plan.iter().filter(|p| shard.contains(p.index)).count();
    eprintln!(
        "sweep '{}': {} runs ({} grid points x {} seeds); shard {}/{} holds {mine}, {} to run, {} done",
        spec.name,
        plan.len(),
        plan.len() / spec.seeds.len(),
        spec.seeds.len(),
        shard.index,
        shard.count,
        todo.len(),
        mine - todo.len()
    );
    if a.dry_run {
        // Which trained models a run to do can borrow: a finished run's here or in a
        // `--reuse-training` directory, or an earlier run of this plan that trains it first.
        let mut lent: Vec<(String, String)> = Vec::new();
        for (d, foreign) in
            std::iter::once((&a.out, false)).chain(a.reuse_training.iter().map(|d| (d, true)))
        {
            lent.extend(
                lenders(d, foreign)?
                    .into_iter()
                    .map(|(key, name, _)| (key, name)),
            );
        }
        for p in &plan {
            let key = p.config.training_key();
            let state = if !shard.contains(p.index) {
                "other shard".to_string()
            } else if todo.iter().any(|t| t.index == p.index) {
                match lent.iter().find(|(k, _)| *k == key) {
                    Some((_, from)) => format!("to run, trained model from {from}"),
                    None => {
                        lent.push((key, p.id.clone()));
                        "to run".to_string()
                    }
                }
            } else {
                "done".to_string()
            };
            println!("{:>4}  {:<40} {state}", p.index, p.id);
        }
        return Ok(());
    }
    std::fs::write(a.out.join("sweep.toml"), &text)?;
    if !todo.is_empty() {
        eprintln!("device: {}", device_line(a.device));
    }
    run_all(&todo, &a.out, &a.reuse_training, a.device, a.jobs.max(1))?;
    summarise(&a.out, &spec.name)
}

/// What `--device` means for this sweep's runs, in one line.
fn device_line(choice: DeviceChoice) -> String {
    let resolved = choice.resolve().description;
    match (choice, hardware_gpu()) {
        (DeviceChoice::Auto, Some(_)) => format!(
            "{resolved} for MLPs of {AUTO_GPU_MIN_PARAMS} parameters or more; the fused CPU \
             path (faster) below"
        ),
        _ => resolved,
    }
}

/// Runs `todo` with `jobs` at once on `device`, storing each result as soon as it is done;
/// `reuse` are other results directories that lend trained models.
fn run_all(
    todo: &[PlannedRun],
    out: &Path,
    reuse: &[PathBuf],
    device: DeviceChoice,
    jobs: usize,
) -> Result<()> {
    if todo.is_empty() {
        return Ok(());
    }
    let bar = ProgressBar::new(todo.len() as u64 * 100);
    bar.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {percent}% elapsed {elapsed} eta {eta}")
            .expect("progress template")
            .progress_chars("=> "),
    );
    let queue = Mutex::new(todo.iter());
    let done = Mutex::new(vec![0u64; todo.len()]);
    let failures = Mutex::new(Vec::<String>::new());
    let start = Instant::now();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    // One line per finished run: above the bar on a terminal, and as a plain line when stderr
    // is a file (a background run's or a SLURM job's log), where the bar is hidden.
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let work = |pool: Option<rayon::ThreadPool>| {
        loop {
            let Some(p) = lock(&queue).next() else {
                return;
            };
            let slot = todo.iter().position(|t| t.index == p.index).unwrap_or(0);
            bar.set_message(p.id.chars().take(24).collect::<String>());
            let progress = |f: f64| {
                let mut d = lock(&done);
                d[slot] = (f * 100.0) as u64;
                bar.set_position(d.iter().sum());
            };
            let run_start = Instant::now();
            let result = match &pool {
                Some(pool) => pool.install(|| execute(p, out, reuse, device, &progress)),
                None => execute(p, out, reuse, device, &progress),
            };
            let k = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let seconds = run_start.elapsed().as_secs_f64();
            match result.and_then(|r| store_result(out, &r).map(|()| r)) {
                Ok(r) => {
                    progress(1.0);
                    let tid: Vec<String> = r
                        .samplers
                        .iter()
                        .filter_map(|s| s.tid.first().map(|t| format!("{} {:.3}", s.name, t.mean)))
                        .collect();
                    // The first radius, by its name (`eps0.05` or `nn0.5`) and value.
                    let radius =
                        r.samplers
                            .first()
                            .and_then(|s| s.tid.first())
                            .map_or(String::new(), |t| {
                                let eps = if t.eps < 0.01 {
                                    format!("{:.2e}", t.eps)
                                } else {
                                    format!("{:.3}", t.eps)
                                };
                                format!("{} (ε = {eps})", r.radius_label(0, t.eps))
                            });
                    say(format!(
                        "done [{k}/{}] {:<40} in {seconds:.0} s, loss {}, TID {radius}: {}{}",
                        todo.len(),
                        r.id,
                        r.final_loss.map_or("n/a".into(), |l| format!("{l:.4}")),
                        tid.join(", "),
                        r.diverged
                            .as_ref()
                            .map_or(String::new(), |d| format!(" [{d}]")),
                    ));
                }
                Err(e) => {
                    say(format!("FAILED [{k}/{}] {}: {e:#}", todo.len(), p.id));
                    lock(&failures).push(format!("{}: {e:#}", p.id));
                }
            }
        }
    };
    if jobs == 1 {
        work(None);
    } else {
        std::thread::scope(|s| {
            for _ in 0..jobs.min(todo.len()) {
                s.spawn(|| {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().ok();
                    work(pool)
                });
            }
        });
    }
    bar.finish_and_clear();
    eprintln!(
        "{} runs in {:.1} s",
        todo.len(),
        start.elapsed().as_secs_f64()
    );
    let failures = failures.into_inner().expect("failures");
    if !failures.is_empty() {
        bail!(
            "{} runs failed (the others are stored; rerun to retry):\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    Ok(())
}

/// Writes `summary.csv` and the figures of every finished run under `out`.
fn summarise(out: &Path, name: &str) -> Result<()> {
    let results = collect_results(out)?;
    let csv = out.join("summary.csv");
    std::fs::write(&csv, summary_csv(&results))
        .with_context(|| format!("writing {}", csv.display()))?;
    std::fs::write(out.join("summary.md"), summary_markdown(&results))?;
    if mixes_backends(&results) {
        eprintln!(
            "note: these runs ran on more than one backend: the CPU and a GPU, or CPUs whose \
             kernels used different instruction sets (summary.md counts which); a seed gives \
             the same numbers only on one, so rerun them on one to compare every run digit for \
             digit"
        );
    }
    let figures = plot::write_figures(out, name, &results)?;
    eprintln!(
        "{} finished runs; wrote {}{}",
        results.len(),
        csv.display(),
        figures
            .iter()
            .map(|f| format!(", {}", f.display()))
            .collect::<String>()
    );
    Ok(())
}
