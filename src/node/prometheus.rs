//! `renderPrometheus(instances)`: each instance's `stats()` called and read as plain values,
//! its class from `constructor.name`, then the core writes the text
//! ([`crate::metrics::prometheus`]). Any object with a `stats()` of these keys works.

use napi::Env;
use napi_derive::napi;

use super::js::args;
use super::js::config::{own_keys, read_config};
use super::js::{self, JsError, JsResult, Kind, Value};
use crate::config::Object;
use crate::metrics::prometheus::{render, Sampled};

const METHOD: &str = "renderPrometheus";

/// The Prometheus text exposition (format 0.0.4) of the instances' `stats()`: `{ name:
/// instance }` or `[[name, instance], ...]`. Each sample is labelled with its instance's
/// `name` and `class`. Serve it with `Content-Type: text/plain; version=0.0.4`.
#[napi(
    js_name = "renderPrometheus",
    catch_unwind,
    ts_args_type = "instances: Record<string, { stats(): object }> | Array<[string, { stats(): object }]>"
)]
pub fn render_prometheus(env: Env, instances: Value) -> napi::Result<String> {
    read(&env, instances)
        .and_then(|list| {
            let sampled: Vec<Sampled<'_>> = list
                .iter()
                .map(|(name, class, stats)| Sampled { name, class, stats })
                .collect();
            Ok(render(&sampled, METHOD)?)
        })
        .map_err(|e| args::throw(&env, e))
}

/// `(name, class, stats)` of each instance, in the order given.
fn read(env: &Env, instances: Value) -> JsResult<Vec<(String, String, Object)>> {
    let pairs: Vec<(String, Value)> = match js::kind(env, instances)? {
        Kind::Array => {
            let mut pairs = Vec::new();
            for (i, pair) in js::array_elements(env, instances)?.into_iter().enumerate() {
                let items = match js::kind(env, pair)? {
                    Kind::Array => js::array_elements(env, pair)?,
                    _ => Vec::new(),
                };
                match items.as_slice() {
                    [name, instance] if js::kind(env, *name)? == Kind::String => {
                        pairs.push((js::string_value(env, *name)?, *instance));
                    }
                    _ => {
                        return Err(JsError::Type(format!(
                            "{METHOD}: instances[{i}] must be a [name, instance] pair with a string name"
                        )))
                    }
                }
            }
            pairs
        }
        Kind::Object => {
            let mut pairs = Vec::new();
            for name in own_keys(instances)? {
                let instance = js::get_property(env, instances, &name)?;
                pairs.push((name, instance));
            }
            pairs
        }
        k => {
            return Err(JsError::Type(format!(
                "{METHOD}: instances must be an object {{ name: instance }} or an array of [name, instance] pairs, got {}",
                k.describe()
            )))
        }
    };
    let mut out = Vec::with_capacity(pairs.len());
    for (name, instance) in pairs {
        let not_an_instance = || {
            JsError::Type(format!(
                "{METHOD}: instance {name:?} must be an object with a stats() method"
            ))
        };
        if js::kind(env, instance)? != Kind::Object || js::method(env, instance, "stats").is_none()
        {
            return Err(not_an_instance());
        }
        let stats = match js::call_method(env, instance, "stats", &[])? {
            Ok(stats) if js::kind(env, stats)? == Kind::Object => stats,
            Ok(_) => return Err(not_an_instance()),
            Err(message) => {
                return Err(JsError::Error(format!(
                    "{METHOD}: stats() of {name:?} threw: {message}"
                )))
            }
        };
        let class = js::optional_property(env, instance, "constructor")?
            .and_then(|c| js::optional_property(env, c, "name").ok().flatten())
            .filter(|n| matches!(js::kind(env, *n), Ok(Kind::String)))
            .map(|n| js::string_value(env, n))
            .transpose()?
            .unwrap_or_else(|| "Object".to_owned());
        out.push((name, class, read_config(env, stats, &[])?));
    }
    Ok(out)
}
