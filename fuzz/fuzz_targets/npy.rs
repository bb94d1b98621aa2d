#![no_main]
//! Fuzz target `npy`: see `collapse_explorer::fuzzing::Target::Npy`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::Npy, data);
});
