#![no_main]
//! Fuzz target `diffusers`: see `collapse_explorer::fuzzing::Target::Diffusers`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::Diffusers, data);
});
