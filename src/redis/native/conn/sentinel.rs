//! A Sentinel group: the sentinels that name the primary to follow, and how a
//! `redis+sentinel://` URL names them. The group becomes the redis crate's own
//! [`redis::sentinel::SentinelClient`] when the link opens (`lazy.rs`).

use std::fmt;

use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, ProtocolVersion};

use super::address::{bracket, host_port, redact, SENTINEL_PORT};
use super::endpoint::RedisEndpoint;
use crate::redis::{RedisError, Result};

/// A Sentinel group: where its sentinels listen, the name of the primary they watch, and the
/// credentials of the sentinels themselves (those of the data nodes are the settings' own).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SentinelGroup {
    /// Sentinel addresses, `(host, port)`; at least one.
    pub sentinels: Vec<(String, u16)>,
    /// The primary's name (`sentinel monitor <name> ...`), e.g. `mymaster`.
    pub name: String,
    /// ACL user name for the sentinels, if any.
    pub sentinel_username: Option<String>,
    /// Password of the sentinels, if any (ioredis' `sentinelPassword`).
    pub sentinel_password: Option<String>,
}

impl fmt::Debug for SentinelGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelGroup")
            .field("sentinels", &self.sentinels)
            .field("name", &self.name)
            .field("sentinel_password", &self.sentinel_password.is_some())
            .finish()
    }
}

impl SentinelGroup {
    /// `sentinel://h:p,h:p/name` for messages (no credentials).
    pub fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|(h, p)| format!("{}:{p}", bracket(h)))
            .collect();
        format!("redis+sentinel://{}/{}", hosts.join(","), self.name)
    }

    /// The crate's Sentinel client for this group, connecting to the primary with `node`'s
    /// credentials and database, RESP3.
    pub(super) fn client(&self, node: &RedisEndpoint) -> Result<SentinelClient> {
        let what = || format!("connect to {}", self.describe());
        let config = |e: redis::RedisError| RedisError::from_redis(what(), &e);
        let addrs = self
            .sentinels
            .iter()
            .map(|(h, p)| ConnectionAddr::Tcp(h.clone(), *p));
        let mut builder = SentinelClientBuilder::new(addrs, &self.name, SentinelServerType::Master)
            .map_err(config)?
            .set_client_to_redis_protocol(ProtocolVersion::RESP3)
            .set_client_to_redis_db(node.db)
            .set_client_to_sentinel_protocol(ProtocolVersion::RESP3);
        if let Some(user) = node.username.as_deref() {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = node.password.as_deref() {
            builder = builder.set_client_to_redis_password(password);
        }
        if let Some(user) = self.sentinel_username.as_deref() {
            builder = builder.set_client_to_sentinel_username(user);
        }
        if let Some(password) = self.sentinel_password.as_deref() {
            builder = builder.set_client_to_sentinel_password(password);
        }
        builder.build().map_err(config)
    }
}

/// Parses `redis+sentinel://[user[:password]@]host[:port][,host[:port]...]/<name>[?db=N]
/// [&sentinelPassword=...][&sentinelUsername=...]`. The user and password are the data nodes'
/// (most deployments give sentinels and nodes the same one: then also pass
/// `sentinelPassword`). Returns the group and the data nodes' credentials and database, or
/// the message of a `TypeError` when it does not parse.
pub fn parse_sentinel_url(
    url: &str,
) -> std::result::Result<(SentinelGroup, RedisEndpoint), String> {
    let bad = |why: &str| format!("url {}: {why}", redact(url));
    let rest = url
        .strip_prefix("redis+sentinel://")
        .ok_or_else(|| bad("expected redis+sentinel://host:port[,host:port...]/<name>"))?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest
        .split_once('/')
        .ok_or_else(|| bad("the primary's name is missing (…/mymaster)"))?;
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut node = RedisEndpoint::default();
    if let Some(userinfo) = userinfo {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        node.username = Some(decode(user).map_err(|e| bad(&e))?).filter(|u| !u.is_empty());
        node.password = Some(decode(password).map_err(|e| bad(&e))?).filter(|p| !p.is_empty());
    }
    let mut group = SentinelGroup {
        name: decode(path.trim_end_matches('/')).map_err(|e| bad(&e))?,
        ..Default::default()
    };
    if group.name.is_empty() || group.name.contains('/') {
        return Err(bad("the path must be the primary's name (…/mymaster)"));
    }
    for host in hosts.split(',') {
        group
            .sentinels
            .push(host_port(host, SENTINEL_PORT).map_err(|e| bad(&e))?);
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v).map_err(|e| bad(&e))?;
        match k {
            "db" => node.db = v.parse().map_err(|_| bad("db is not a database number"))?,
            "sentinelPassword" => group.sentinel_password = Some(v).filter(|p| !p.is_empty()),
            "sentinelUsername" => group.sentinel_username = Some(v).filter(|u| !u.is_empty()),
            other => {
                // Named only when it reads as a name: anything else may be a misplaced secret.
                let plain = !other.is_empty()
                    && other.len() <= 40
                    && other
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
                let name = if plain { other } else { "(not a name)" };
                return Err(bad(&format!(
                    "unknown parameter {name} (db, sentinelPassword, sentinelUsername)"
                )));
            }
        }
    }
    Ok((group, node))
}

/// Percent-decoding of one URL component.
fn decode(text: &str) -> std::result::Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "bad percent-encoding".to_owned())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a part is not UTF-8 once decoded".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_parse_with_defaults_and_credentials() {
        let (group, node) = parse_sentinel_url(
            "redis+sentinel://u:p%40ss@a:26380,[::1],b/mymaster?db=2&sentinelPassword=sp",
        )
        .expect("parses");
        assert_eq!(
            group.sentinels,
            vec![
                ("a".to_owned(), 26380),
                ("::1".to_owned(), 26379),
                ("b".to_owned(), 26379)
            ]
        );
        assert_eq!(group.name, "mymaster");
        assert_eq!(group.sentinel_password.as_deref(), Some("sp"));
        assert_eq!(node.username.as_deref(), Some("u"));
        assert_eq!(node.password.as_deref(), Some("p@ss"));
        assert_eq!(node.db, 2);
        assert!(!group.describe().contains("p@ss"));
    }

    #[test]
    fn bad_sentinel_urls_say_why() {
        for (url, why) in [
            ("redis+sentinel://a:1", "name is missing"),
            ("redis+sentinel://a:1/", "primary's name"),
            ("redis+sentinel://a:x/m", "not a TCP port"),
            ("redis+sentinel://a:0/m", "not a TCP port"),
            ("redis+sentinel://,a/m", "empty"),
            ("redis+sentinel://a/m?db=x", "not a database number"),
            (
                "redis+sentinel://a/m?role=replica",
                "unknown parameter role",
            ),
            ("redis+sentinel://u:secret@a/m?db=x", "://***@a"),
        ] {
            let err = parse_sentinel_url(url).expect_err(url);
            assert!(err.contains(why), "{url}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
