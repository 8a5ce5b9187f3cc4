//! Redis Cluster hash slots, so a multi-key command sent through a cluster client never spans
//! two slots (Redis answers `CROSSSLOT`): `CRC16(key) mod 16384`, of the hash tag (the text
//! between the first `{` and the next `}`, when not empty) if the key has one. Used by the
//! driver of cluster client objects (`src/node/redis_driver/`) to split a `del` by slot.

use redis::cluster_routing::Slot;

/// The hash slot of `key`, as the redis crate's cluster client computes it.
pub fn key_slot(key: &str) -> Slot {
    Slot::for_key(key)
}

/// `keys` split into groups of one slot each, groups in the order of their first key, keys
/// in their order.
pub fn by_slot(keys: Vec<String>) -> Vec<Vec<String>> {
    let mut groups: Vec<(Slot, Vec<String>)> = Vec::new();
    for key in keys {
        let slot = key_slot(&key);
        match groups.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, group)) => group.push(key),
            None => groups.push((slot, vec![key])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(n: u16) -> Slot {
        Slot::new(n).expect("a slot number")
    }

    #[test]
    fn slots_match_redis() {
        // `CLUSTER KEYSLOT` on redis-server 7.0.15.
        assert_eq!(key_slot("foo"), slot(12182));
        assert_eq!(key_slot("bar"), slot(5061));
        assert_eq!(key_slot("mcp:session:a"), slot(14002));
        assert_eq!(key_slot(""), slot(0));
    }

    #[test]
    fn hash_tags() {
        assert_eq!(
            key_slot("{user1000}.following"),
            key_slot("{user1000}.followers")
        );
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        // An empty tag, or an unclosed one, hashes the whole key.
        assert_eq!(key_slot("foo{}{bar}"), slot(8363));
        assert_eq!(key_slot("foo{bar"), slot(15278));
        // Only the first tag counts (values from `CLUSTER KEYSLOT`).
        assert_eq!(key_slot("foo{{bar}}zap"), slot(4015));
        assert_eq!(key_slot("{bar"), slot(4015));
        assert_eq!(key_slot("foo{bar}{zap}"), key_slot("bar"));
    }

    #[test]
    fn groups_keep_order() {
        let keys = ["foo", "bar", "{foo}x", "{bar}y", "{foo}z"].map(str::to_owned);
        assert_eq!(
            by_slot(keys.to_vec()),
            vec![
                vec!["foo".to_owned(), "{foo}x".to_owned(), "{foo}z".to_owned()],
                vec!["bar".to_owned(), "{bar}y".to_owned()],
            ]
        );
        assert!(by_slot(Vec::new()).is_empty());
    }
}
