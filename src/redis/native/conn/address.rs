//! Addresses: the one `host[:port]` parser, the one port check, and the one redactor every
//! message goes through, so no address is read two ways and no secret is shown in one.

use redis::{ConnectionAddr, RedisConnectionInfo};

/// Redis' default port.
pub const REDIS_PORT: u16 = 6379;
/// Sentinels' default port.
pub const SENTINEL_PORT: u16 = 26379;

/// What stands in for a secret in messages.
const MASK: &str = "***";

/// A TCP port: a whole number from 1 to 65535 (port 0 would mean "any", which no client can
/// connect to).
pub fn port(n: f64) -> Option<u16> {
    (n.fract() == 0.0 && (1.0..=65535.0).contains(&n)).then_some(n as u16)
}

/// [`port`] of decimal text.
pub fn port_text(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|p| *p != 0)
}

/// Whether `host` can be a host name, an IPv4 or an IPv6 address (brackets off; a zone after
/// `%`): letters, digits, `.`, `-`, `_`, `:` and `%`. Anything else (`@`, `/`, spaces) means
/// the text is not an address, and may hold a secret.
pub fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%'))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address (two colons or more and
/// no brackets: all of it is the host); `default_port` when none is given. The host comes
/// back without brackets. `Err` says why.
pub fn host_port(text: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port_part) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "not host:port".to_owned())?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => return Err("not host:port".to_owned()),
            },
        }
    } else if text.matches(':').count() > 1 {
        (text, None)
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("an address is empty".to_owned());
    }
    if !valid_host(host) {
        return Err("not a host name or IP address".to_owned());
    }
    let port = match port_part {
        None => default_port,
        // Not quoted: text after a `:` may be a password that lost its `@`.
        Some(p) => {
            port_text(p).ok_or_else(|| "the port is not a TCP port (1 to 65535)".to_owned())?
        }
    };
    Ok((host.to_owned(), port))
}

/// An IPv6 address in brackets, as in a URL.
pub fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Whether a URL query parameter carries a credential (`password`, `sentinelPassword`,
/// `pwd`, `token`, `secret`, `apiKey`, `auth`, ...).
fn is_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "key", "auth", "cred"]
        .iter()
        .any(|word| name.contains(word))
}

/// `url` as messages and log lines show it: its user-info (user name and password) and
/// every query parameter that carries a credential replaced by `***`. The one rule every
/// address in a message goes through; text with no `scheme://` is taken as an address.
///
/// The user-info is taken to end at the last `@` of the text: a password may hold `/`, `?`,
/// `#` or `@` that the user did not percent-encode, and a Redis URL's host, path and query
/// hold no `@`. A query value with an `@` masks more than needed, never less.
pub fn redact(url: &str) -> String {
    // A scheme is letters, digits, `+`, `-` and `.` after a letter: a `://` after anything
    // else (a password, say) starts no scheme.
    let is_scheme = |s: &str| {
        s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    };
    let (scheme, rest) = match url.find("://") {
        Some(end) if is_scheme(&url[..end]) => url.split_at(end + 3),
        _ => ("", url),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    let after_userinfo = match rest.rfind('@') {
        Some(at) => {
            out.push_str(MASK);
            out.push('@');
            &rest[at + 1..]
        }
        None => rest,
    };
    let (before_query, query) = match after_userinfo.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (after_userinfo, None),
    };
    out.push_str(before_query);
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_credential(name) => format!("{name}={MASK}"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

/// Typed settings as a URL for messages: `redis[s]://[***@]host:port/db` or
/// `redis+unix://path?db=N` (user name and password masked, as [`redact`] does).
pub fn describe(addr: &ConnectionAddr, redis: &RedisConnectionInfo) -> String {
    let mut auth = String::new();
    if redis.username().is_some() || redis.password().is_some() {
        auth.push_str(MASK);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_whole_numbers_from_1_to_65535() {
        assert_eq!(port(6379.0), Some(6379));
        assert_eq!(port(65535.0), Some(65535));
        for bad in [0.0, -1.0, 65536.0, 1.5, f64::NAN, f64::INFINITY] {
            assert_eq!(port(bad), None, "{bad}");
        }
        assert_eq!(port_text("26380"), Some(26380));
        for bad in ["", "0", "x", "+1", "1e3", "65536", " 1"] {
            assert_eq!(port_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn host_port_reads_names_v4_and_v6_with_and_without_ports() {
        let ok = |t: &str| host_port(t, 6379).expect(t);
        assert_eq!(ok("h"), ("h".into(), 6379));
        assert_eq!(ok("h:7000"), ("h".into(), 7000));
        assert_eq!(ok("10.0.0.1:7000"), ("10.0.0.1".into(), 7000));
        assert_eq!(ok("[::1]:7000"), ("::1".into(), 7000));
        assert_eq!(ok("[::1]"), ("::1".into(), 6379));
        assert_eq!(ok("::1"), ("::1".into(), 6379));
        assert_eq!(ok("fe80::1:2"), ("fe80::1:2".into(), 6379));
        for bad in [
            "", ":1", "h:", "h:0", "h:x", "[::1", "[::1]x", "[]:1", "u:pw@h", "::pw@/?", "h h",
        ] {
            assert!(host_port(bad, 6379).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn redaction_masks_passwords_and_credential_parameters() {
        assert_eq!(redact("redis://u:secret@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redact("redis://:secret@h"), "redis://***@h");
        assert_eq!(redact("redis://user-secret@h"), "redis://***@h");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        // Unencoded `/` and `@` in a password still stay inside the user-info.
        assert_eq!(redact("rediss://u:se/c@ret@h/2"), "rediss://***@h/2");
        assert_eq!(
            redact("redis+sentinel://u:p@a:1,b/m?db=1&sentinelPassword=S&x=1&token=T"),
            "redis+sentinel://***@a:1,b/m?db=1&sentinelPassword=***&x=1&token=***"
        );
        assert_eq!(redact("u:secret@h:1"), "***@h:1");
        assert_eq!(redact("redis://?:secret@/?"), "redis://***@/?");
        assert_eq!(redact(":secret@://?"), "***@://?");
        assert_eq!(
            redact("redis://u:p#q?r@h/0?token=t"),
            "redis://***@h/0?token=***"
        );
        assert_eq!(redact("not a url"), "not a url");
    }
}
