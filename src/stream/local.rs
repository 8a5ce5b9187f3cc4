//! The streams this process holds, by session id.
//!
//! Generic over the controller handle so the routing rules are tested without Node; the
//! napi layer stores references to JS `ReadableStreamDefaultController`s here. Both stream
//! managers (in-memory and Redis) keep their local controllers in one of these.

use std::collections::HashMap;

pub struct LocalStreams<C> {
    streams: HashMap<String, C>,
}

impl<C> Default for LocalStreams<C> {
    fn default() -> Self {
        LocalStreams {
            streams: HashMap::new(),
        }
    }
}

impl<C> LocalStreams<C> {
    /// Registers `controller` for `id`; returns the one it replaces (to be released).
    pub fn insert(&mut self, id: String, controller: C) -> Option<C> {
        self.streams.insert(id, controller)
    }

    pub fn remove(&mut self, id: &str) -> Option<C> {
        self.streams.remove(id)
    }

    /// Removes the stream of `id` only if `is_it` says it is the one meant: a stream that
    /// failed is dropped, never the one a reconnecting client registered meanwhile.
    pub fn remove_if(&mut self, id: &str, is_it: impl FnOnce(&C) -> bool) -> Option<C> {
        if self.streams.get(id).is_some_and(is_it) {
            self.streams.remove(id)
        } else {
            None
        }
    }

    pub fn get(&self, id: &str) -> Option<&C> {
        self.streams.get(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.streams.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    pub fn ids(&self) -> Vec<String> {
        self.streams.keys().cloned().collect()
    }

    /// The ids a send reaches: every local stream when `ids` is `None` (broadcast), else
    /// the listed ids that have a local stream, in the order given.
    pub fn targets(&self, ids: Option<&[String]>) -> Vec<String> {
        match ids {
            None => self.ids(),
            Some(ids) => ids
                .iter()
                .filter(|id| self.streams.contains_key(id.as_str()))
                .cloned()
                .collect(),
        }
    }

    /// Removes every stream (for `close`).
    pub fn drain(&mut self) -> Vec<(String, C)> {
        self.streams.drain().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_replacement() {
        let mut s = LocalStreams::default();
        assert!(s.insert("a".into(), 1).is_none());
        assert_eq!(s.insert("a".into(), 2), Some(1));
        s.insert("b".into(), 3);
        let mut all = s.targets(None);
        all.sort();
        assert_eq!(all, vec!["a", "b"]);
        let listed = s.targets(Some(&["b".into(), "zzz".into(), "a".into()]));
        assert_eq!(listed, vec!["b", "a"]);
        assert_eq!(
            s.remove_if("a", |c| *c == 1),
            None,
            "a replaced stream is not removed"
        );
        assert_eq!(s.get("a"), Some(&2));
        assert_eq!(s.remove("a"), Some(2));
        assert_eq!(s.len(), 1);
        assert_eq!(s.drain(), vec![("b".to_string(), 3)]);
        assert!(s.is_empty());
    }
}
