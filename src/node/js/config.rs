//! A JS config object read into the core's plain [`config::Value`]: strings, numbers,
//! arrays, objects and bytes as they are; the fields that hold Redis client objects as the
//! few facts the core reads of a client ([`ClientShape`]), since a live client is far too
//! large (sockets, queues) to copy and stays with the bindings.

use napi::bindgen_prelude::{
    FromNapiValue, JsObjectValue, KeyCollectionMode, KeyConversion, KeyFilter, Object,
};
use napi::Env;

use super::values::{
    array_elements, byte_view, get_property, kind, method, number_value, optional_property,
    string_value, JsError, JsResult, Kind, Value,
};
use crate::config::{self, ClientShape, CLIENT_METHODS};

/// How deep nested objects are read: enough for every option a client or a config holds
/// (`options.redisOptions.tls.ca[0]`), and a bound on cyclic ones.
const MAX_DEPTH: usize = 6;

/// `config` as plain values; the properties named in `client_fields` (`"client"`,
/// `"pubSubClient"`) that hold objects are read as [`ClientShape`]s. A getter of the config
/// itself that throws fails with its message.
pub fn read_config(env: &Env, config: Value, client_fields: &[&str]) -> JsResult<config::Object> {
    let mut out = Vec::new();
    for key in own_keys(config)? {
        let v = get_property(env, config, &key)?;
        let read = match kind(env, v)? {
            Kind::Undefined => continue,
            Kind::Object if client_fields.contains(&key.as_str()) => {
                config::Value::Client(Box::new(client_shape(env, v)))
            }
            _ => plain(env, v, 1, true)?,
        };
        out.push((key, read));
    }
    Ok(config::Object(out))
}

/// A value as plain data, `depth` levels below the config. `strict`: a getter that throws
/// fails the read (the user's own config); otherwise the property is left out (a client's
/// internals, which the client would read its own way).
fn plain(env: &Env, v: Value, depth: usize, strict: bool) -> JsResult<config::Value> {
    Ok(match kind(env, v)? {
        Kind::Undefined | Kind::Null => config::Value::Null,
        Kind::Boolean => config::Value::Bool(super::values::bool_value(env, v)?),
        Kind::Number => config::Value::Number(number_value(env, v)?),
        Kind::String => config::Value::String(string_value(env, v)?),
        Kind::Function => config::Value::Function,
        Kind::Symbol => config::Value::Other("a symbol"),
        Kind::BigInt => config::Value::Other("a bigint"),
        Kind::External => config::Value::Other("an external"),
        _ if depth > MAX_DEPTH => config::Value::Other("an object"),
        Kind::Array => {
            let mut items = Vec::new();
            for item in array_elements(env, v)? {
                items.push(plain(env, item, depth + 1, strict)?);
            }
            config::Value::Array(items)
        }
        Kind::Object => match byte_view(env, v)? {
            Some(bytes) => config::Value::Bytes(bytes),
            None => {
                let mut out = Vec::new();
                for key in own_keys(v)? {
                    let read = get_property(env, v, &key)
                        .and_then(|p| Ok((kind(env, p)?, p)))
                        .and_then(|(k, p)| Ok((k, plain(env, p, depth + 1, strict)?)));
                    match read {
                        Ok((Kind::Undefined, _)) => {}
                        Ok((_, value)) => out.push((key, value)),
                        Err(e) if strict => return Err(e),
                        Err(_) => {}
                    }
                }
                config::Value::Object(config::Object(out))
            }
        },
    })
}

/// What the core reads of a client object.
fn client_shape(env: &Env, client: Value) -> ClientShape {
    let read = |name: &str| {
        optional_property(env, client, name)
            .ok()
            .flatten()
            .and_then(|v| plain(env, v, 2, false).ok())
    };
    ClientShape {
        options: read("options"),
        private_options: read("_options"),
        startup_nodes: read("startupNodes"),
        methods: CLIENT_METHODS
            .iter()
            .filter(|m| method(env, client, m).is_some())
            .map(|m| (*m).to_owned())
            .collect(),
    }
}

/// The own enumerable string keys of an object, as `Object.keys` lists them.
pub fn own_keys(object: Value) -> JsResult<Vec<String>> {
    let object = Object::from_unknown(object)?;
    let names = object.get_all_property_names(
        KeyCollectionMode::OwnOnly,
        KeyFilter::Enumerable,
        KeyConversion::NumbersToStrings,
    )?;
    let len = names.get_array_length()?;
    let mut keys = Vec::with_capacity(len as usize);
    for i in 0..len {
        if let Some(name) = names.get_element::<Option<String>>(i).ok().flatten() {
            keys.push(name);
        }
    }
    Ok(keys)
}

impl From<config::ConfigError> for JsError {
    fn from(e: config::ConfigError) -> Self {
        match e {
            config::ConfigError::Type(m) => JsError::Type(m),
            config::ConfigError::Range(m) => JsError::Range(m),
            config::ConfigError::Other(m) => JsError::Error(m),
        }
    }
}
