//! Any chat message through the platform-neutral command parser: it answers `None` or a
//! command, never panics, and an unknown command is named as typed.
#![no_main]

use herald::commands::{Command, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for bot in [None, Some("HeraldBot")] {
        if let Some(Command::Unknown(name)) = parse(text, bot) {
            assert!(name.starts_with('/') || name.starts_with('!'), "{name:?}");
        }
    }
});
