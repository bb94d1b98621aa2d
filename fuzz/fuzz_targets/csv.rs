#![no_main]
//! Fuzz target `csv`: see `collapse_explorer::fuzzing::Target::Csv`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::Csv, data);
});
