//! A class's options as plain values, and the checks every class applies to them.
//!
//! The bindings read a JS config object into a [`Value`] tree (strings, numbers, arrays,
//! objects, bytes; a Redis client object as the few facts about it the core needs, see
//! [`ClientShape`]), so every rule about options (defaults, ranges, which client a Redis
//! class can reproduce, what a typo probably meant) lives here and in the cores that read
//! them, with cargo tests, and the bindings only convert.

mod fields;
mod value;

pub use fields::{
    bool_field, number_field, opt_number, opt_string, string_field, ConfigError, ConfigResult,
    MAX_TIMER_MS, MAX_TTL_MS,
};
#[cfg(test)]
pub(crate) use value::build;
pub use value::{ClientShape, Object, Value, CLIENT_METHODS};
