//! How a connection target reads in messages: as a URL, any password replaced by `***`.

use redis::{ConnectionAddr, RedisConnectionInfo};

/// Typed settings as a URL for messages: `redis[s]://[user[:***]@]host:port/db` or
/// `redis+unix://path?db=N`.
pub(super) fn describe(addr: &ConnectionAddr, redis: &RedisConnectionInfo) -> String {
    let mut auth = String::new();
    if redis.username().is_some() || redis.password().is_some() {
        auth.push_str(redis.username().unwrap_or(""));
        if redis.password().is_some() {
            auth.push_str(":***");
        }
        auth.push('@');
    }
    let db = redis.db();
    match addr {
        ConnectionAddr::Tcp(host, port) => format!("redis://{auth}{}:{port}/{db}", bracket(host)),
        ConnectionAddr::TcpTls { host, port, .. } => {
            format!("rediss://{auth}{}:{port}/{db}", bracket(host))
        }
        ConnectionAddr::Unix(path) => format!("redis+unix://{}?db={db}", path.display()),
        other => format!("{other}"),
    }
}

/// An IPv6 address in brackets, as in a URL.
pub(super) fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

pub(super) fn redact_url(url: &str) -> String {
    // scheme://user:password@host... -> scheme://user:***@host...
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{}://{}@{}", &url[..scheme_end], masked, &rest[at + 1..])
        }
        None => url.to_string(),
    }
}
