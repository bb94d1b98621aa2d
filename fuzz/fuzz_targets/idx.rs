#![no_main]
//! Fuzz target `idx`: see `collapse_explorer::fuzzing::Target::Idx`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::Idx, data);
});
