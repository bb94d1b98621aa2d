#![no_main]
//! Fuzz target `cifar`: see `collapse_explorer::fuzzing::Target::Cifar`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::Cifar, data);
});
