//! A class's options as plain values, and the checks every class applies to them.
//!
//! The bindings read a JS config object into a [`Value`] tree (strings, numbers, arrays,
//! objects, bytes; a Redis client object as the few facts about it the core needs, see
//! [`ClientShape`]), so every rule about options (defaults, ranges, which client a Redis
//! class can reproduce, what a typo probably meant) lives here and in the cores that read
//! them, with cargo tests, and the bindings only convert.

mod fields;
mod known;
mod value;

pub use fields::{
    bool_field, count_field, number_field, opt_number, opt_string, string_field, ConfigError,
    ConfigResult, MAX_TIMER_MS, MAX_TTL_MS,
};
pub use known::{unknown_keys, warn_unknown_keys};
#[cfg(test)]
pub(crate) use value::build;
pub use value::{ClientShape, Object, Value, CLIENT_METHODS};
