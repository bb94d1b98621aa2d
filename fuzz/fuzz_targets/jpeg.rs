#![no_main]
//! Fuzz target `jpeg`: see `collapse_explorer::fuzzing::Target::Jpeg`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::Jpeg, data);
});
