//! Redis Cluster hash slots, so a multi-key command sent through a cluster client never spans
//! two slots (Redis answers `CROSSSLOT`): `CRC16(key) mod 16384`, of the hash tag (the text
//! between the first `{` and the next `}`, when not empty) if the key has one. Used by the
//! driver of cluster client objects (`src/node/redis_driver/`) to split a `del` by slot.

/// The number of hash slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// CRC16/XMODEM (polynomial 0x1021, initial 0), as the Redis Cluster specification defines it.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of `key` that is hashed: its hash tag when it has a non-empty one, else all of it.
fn hashed_part(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.iter().position(|&b| b == b'}') {
            if close > 0 {
                return &rest[..close];
            }
        }
    }
    key
}

/// The hash slot of `key`.
pub fn key_slot(key: &str) -> u16 {
    crc16(hashed_part(key.as_bytes())) % SLOTS
}

/// `keys` split into groups of one slot each, groups in the order of their first key, keys
/// in their order.
pub fn by_slot(keys: Vec<String>) -> Vec<Vec<String>> {
    let mut groups: Vec<(u16, Vec<String>)> = Vec::new();
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

    #[test]
    fn crc16_check_value() {
        // The check value of CRC16/XMODEM, quoted by the Redis Cluster specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_match_redis() {
        // `CLUSTER KEYSLOT` on redis-server 7.0.15.
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("bar"), 5061);
        assert_eq!(key_slot("mcp:session:a"), 14002);
        assert_eq!(key_slot(""), 0);
    }

    #[test]
    fn hash_tags() {
        assert_eq!(
            key_slot("{user1000}.following"),
            key_slot("{user1000}.followers")
        );
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        // An empty tag, or an unclosed one, hashes the whole key.
        assert_eq!(key_slot("foo{}{bar}"), 8363);
        assert_eq!(key_slot("foo{bar"), 15278);
        // Only the first tag counts (values from `CLUSTER KEYSLOT`).
        assert_eq!(key_slot("foo{{bar}}zap"), 4015);
        assert_eq!(key_slot("{bar"), 4015);
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
