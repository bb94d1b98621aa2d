#![no_main]
//! Fuzz target `unet_checkpoint`: see `collapse_explorer::fuzzing::Target::UnetCheckpoint`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::UnetCheckpoint, data);
});
