#![no_main]
//! Fuzz target `unet_config_toml`: see `collapse_explorer::fuzzing::Target::UnetConfigToml`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::UnetConfigToml, data);
});
