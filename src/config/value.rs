//! [`Value`]: a JS option value as plain data.

/// The methods of a client object whose presence the core asks about (see
/// [`ClientShape::methods`]).
pub const CLIENT_METHODS: [&str; 4] = ["duplicate", "sendCommand", "nodeClient", "acquire"];

/// A JS option value as plain data. `undefined` is absent (an object leaves such a key
/// out); `null` is kept, and [`Object::get`] treats it as absent too, as the classes always
/// have.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// A `Buffer`, typed array or `DataView` (PEM material, say).
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Object(Object),
    Function,
    /// A Redis client object passed as `client` or `pubSubClient`: only what the core reads
    /// of it (its live object stays with the bindings).
    Client(Box<ClientShape>),
    /// Anything else, by what `typeof` calls it (`"a symbol"`, `"a bigint"`), or an object
    /// nested deeper than the bindings read.
    Other(&'static str),
}

/// An object's own enumerable string-keyed properties, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object(pub Vec<(String, Value)>);

/// What the core needs to know of a client object: its settings (node-redis' and ioredis'
/// `options`, node-redis v5's private `_options`, ioredis Cluster's `startupNodes`) and which
/// of [`CLIENT_METHODS`] it has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientShape {
    pub options: Option<Value>,
    pub private_options: Option<Value>,
    pub startup_nodes: Option<Value>,
    pub methods: Vec<String>,
}

impl ClientShape {
    pub fn has_method(&self, name: &str) -> bool {
        self.methods.iter().any(|m| m == name)
    }
}

impl Value {
    /// The kind as messages name it, as the bindings describe a JS value.
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Bytes(_) | Value::Object(_) | Value::Client(_) => "an object",
            Value::Function => "a function",
            Value::Other(kind) => kind,
        }
    }

    /// Property `name` of an object (`None` when absent or `null`, or when this is no
    /// object).
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(object) => object.get(name),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(object) => Some(object),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is an object (a plain one, bytes or a client).
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_) | Value::Bytes(_) | Value::Client(_))
    }
}

impl Object {
    /// Property `name` (`None` when absent or `null`).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v)
            .filter(|v| **v != Value::Null)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(key, _)| key.as_str())
    }
}

/// Building values in tests.
#[cfg(test)]
pub(crate) mod build {
    use super::{ClientShape, Object, Value};

    pub fn object(pairs: &[(&str, Value)]) -> Value {
        Value::Object(Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        ))
    }

    pub fn text(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    pub fn num(n: f64) -> Value {
        Value::Number(n)
    }

    pub fn array(items: &[Value]) -> Value {
        Value::Array(items.to_vec())
    }

    /// A client with `options` and the methods node-redis and ioredis clients have.
    pub fn client(options: Value) -> Value {
        Value::Client(Box::new(ClientShape {
            options: Some(options),
            methods: vec!["duplicate".into(), "sendCommand".into()],
            ..ClientShape::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_reads_as_absent_and_kinds_read_as_js_names_them() {
        let object = Object(vec![
            ("a".into(), Value::Null),
            ("b".into(), Value::Number(1.0)),
            ("c".into(), Value::Client(Box::default())),
        ]);
        assert_eq!(object.get("a"), None);
        assert_eq!(object.get("b"), Some(&Value::Number(1.0)));
        assert_eq!(object.get("z"), None);
        assert_eq!(object.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        let kinds: Vec<&str> = [
            Value::Null,
            Value::Bool(true),
            Value::Array(vec![]),
            Value::Bytes(vec![]),
            Value::Function,
            Value::Other("a symbol"),
        ]
        .iter()
        .map(Value::describe)
        .collect();
        assert_eq!(
            kinds,
            [
                "null",
                "a boolean",
                "an array",
                "an object",
                "a function",
                "a symbol"
            ]
        );
    }
}
