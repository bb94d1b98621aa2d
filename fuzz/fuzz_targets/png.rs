#![no_main]
//! Fuzz target `png`: see `collapse_explorer::fuzzing::Target::Png`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::Png, data);
});
