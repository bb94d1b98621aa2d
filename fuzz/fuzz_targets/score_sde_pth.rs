#![no_main]
//! Fuzz target `score_sde_pth`: see `collapse_explorer::fuzzing::Target::ScoreSdePth`.

use collapse_explorer::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Target::ScoreSdePth, data);
});
