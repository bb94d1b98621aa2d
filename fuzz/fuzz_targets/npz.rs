#![no_main]
//! Fuzz target `npz`: see `collapse_explorer::fuzzing::Target::Npz`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::Npz, data);
});
