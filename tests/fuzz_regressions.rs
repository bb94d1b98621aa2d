//! Replays, on stable, every input the fuzzers were seeded with (`fuzz/seeds/<target>/`, valid
//! inputs that each reader must accept) and every crash or leak they found
//! (`fuzz/regressions/<target>/`, kept after the fix), which must run through their reader
//! without a panic (an `Err` is the expected outcome for most).
//! `tools/fuzz.sh` runs the fuzzers themselves; `docs/RELIABILITY.md` records their runs.

use std::path::Path;

use collapse_explorer::fuzzing::{Target, run};

fn inputs(kind: &str, target: Target) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target.name());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn seeds_and_regressions_run_without_panic() {
    let mut total = 0;
    for target in Target::ALL {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{} is empty", target.name());
        for path in &seeds {
            let data = std::fs::read(path).unwrap();
            if let Err(e) = run(target, &data) {
                panic!("{}: seed {} is refused: {e}", target.name(), path.display());
            }
            total += 1;
        }
        for path in inputs("regressions", target) {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(target, &data));
            assert!(
                outcome.is_ok(),
                "{}: {} panicked",
                target.name(),
                path.display()
            );
            total += 1;
        }
    }
    eprintln!("{total} fuzz inputs replayed");
}
