//! The results directory of a sweep: one `runs/<id>/` per run, holding `result.json` (written
//! atomically) and the trained checkpoint; what is finished, what is left, and merging shards.

use std::path::{Path, PathBuf};

use super::{PlannedRun, Result, RunResult, Shard, SweepError};

/// Where a run's files go.
pub fn run_dir(out: &Path, id: &str) -> PathBuf {
    out.join("runs").join(id)
}

/// The stored result of run `id` under `out`, if it finished.
pub fn load_result(out: &Path, id: &str) -> Result<Option<RunResult>> {
    let path = run_dir(out, id).join("result.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)?;
    let r: RunResult =
        serde_json::from_str(&text).map_err(|error| SweepError::NotAResult { path, error })?;
    Ok(Some(r))
}

/// Writes `result.json` of a run atomically (temporary file, then rename).
pub fn store_result(out: &Path, r: &RunResult) -> Result<()> {
    let dir = run_dir(out, &r.id);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(".result.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(r)?)?;
    std::fs::rename(&tmp, dir.join("result.json"))?;
    Ok(())
}

/// Which planned runs still need running: those of `shard` without a stored result. A stored
/// result whose configuration differs from the plan is an error (the directory belongs to
/// another sweep), not something to overwrite silently.
pub fn pending(out: &Path, plan: &[PlannedRun], shard: Shard) -> Result<Vec<PlannedRun>> {
    let mut todo = Vec::new();
    for p in plan.iter().filter(|p| shard.contains(p.index)) {
        match load_result(out, &p.id)? {
            Some(r) if r.config == p.config => {}
            Some(_) => {
                return Err(SweepError::Conflict(format!(
                    "{} holds a result of run '{}' with another configuration: use a fresh --out",
                    out.display(),
                    p.id
                )));
            }
            None => todo.push(p.clone()),
        }
    }
    Ok(todo)
}

/// Every stored result under `out`, sorted by id.
pub fn collect_results(out: &Path) -> Result<Vec<RunResult>> {
    let runs = out.join("runs");
    let mut results = Vec::new();
    if !runs.is_dir() {
        return Ok(results);
    }
    for entry in std::fs::read_dir(&runs)? {
        let entry = entry?;
        if let Some(id) = entry.file_name().to_str()
            && let Some(r) = load_result(out, id)?
        {
            results.push(r);
        }
    }
    results.sort_by(|a, b| a.index.cmp(&b.index).then(a.id.cmp(&b.id)));
    Ok(results)
}

/// Joins shard directories into `out`: copies every finished run that `out` lacks; the same
/// run in two shards must hold the same configuration. Returns the number of runs copied.
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<usize> {
    let mut copied = 0;
    for dir in shards {
        if dir == out {
            continue;
        }
        for r in collect_results(dir)? {
            match load_result(out, &r.id)? {
                Some(have) if have.config == r.config => {}
                Some(_) => {
                    return Err(SweepError::Conflict(format!(
                        "run '{}' differs between {} and {}",
                        r.id,
                        dir.display(),
                        out.display()
                    )));
                }
                None => {
                    copy_run(&run_dir(dir, &r.id), &run_dir(out, &r.id))?;
                    copied += 1;
                }
            }
        }
    }
    Ok(copied)
}

/// Copies one run's directory: its files and subdirectories (the checkpoint) first, then its
/// `result.json` last and atomically, so a half-copied run is never taken as finished.
fn copy_run(from: &Path, to: &Path) -> Result<()> {
    copy_tree(from, to, Some("result.json"))?;
    let tmp = to.join(".result.json.tmp");
    std::fs::copy(from.join("result.json"), &tmp)?;
    std::fs::rename(&tmp, to.join("result.json"))?;
    Ok(())
}

/// Copies a directory tree, leaving out the top-level file named `skip`.
fn copy_tree(from: &Path, to: &Path, skip: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target, None)?;
        } else if skip.is_none_or(|s| entry.file_name() != s) {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
