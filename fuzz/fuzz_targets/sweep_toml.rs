#![no_main]
//! Fuzz target `sweep_toml`: see `collapse_explorer::fuzzing::Target::SweepToml`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::SweepToml, data);
});
