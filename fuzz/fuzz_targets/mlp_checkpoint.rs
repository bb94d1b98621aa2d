#![no_main]
//! Fuzz target `mlp_checkpoint`: see `collapse_explorer::fuzzing::Target::MlpCheckpoint`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::MlpCheckpoint, data);
});
