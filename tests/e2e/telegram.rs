//! Telegram end to end, against the Bot API emulator.
