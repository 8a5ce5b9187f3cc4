//! The journal of store-and-forward (see [`crate::redis::Commands::publish_or_keep`]): a
//! message that Redis counted a subscriber for is also written to the session's journal, in
//! the same script as its PUBLISH, and published tagged with its journal id; the instance that
//! receives it acknowledges that id. A PUBLISH counts a subscriber until Redis has seen its
//! connection close, which for an instance killed with SIGKILL is only once the kernel has
//! torn the process down, tens of milliseconds later: what no instance acknowledged went to
//! a dead one, and the session's next stream takes it (`kept.rs`'s take).
//!
//! One node (or a Sentinel primary) only: the take replays a journal only for a session an
//! instance of ours held, which it reads in the instance registry, and on a Cluster the
//! registry is in another slot. There nothing is journaled.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use futures_util::future::try_join_all;

use crate::redis::backend::{PendingKeys, JOURNAL_MAX, JOURNAL_TAG, JOURNAL_TTL_SECS};
use crate::redis::native::conn::Connection;
use crate::redis::Result;

/// KEYS: each session's journal; ARGV: the publish command, the message, the tag, the most
/// entries, the journal's ttl (ms), then each session's channel. Per session: with nobody
/// subscribed to the channel, nothing (0: the caller keeps the message); else appends the
/// message to the journal and publishes it tagged with the entry's id; if that reached
/// nobody (only pattern subscribers were counted) the entry goes again, else the journal
/// lives for the ttl. A key of another type is left alone and the message published
/// untagged. Returns each session's subscriber count.
const PUBLISH_LUA: &str = r"
local out = {}
for i = 1, #KEYS do
  local key, channel = KEYS[i], ARGV[5 + i]
  local id, n = nil, 0
  if redis.call('PUBSUB', 'NUMSUB', channel)[2] > 0 then
    id = redis.pcall('XADD', key, 'MAXLEN', ARGV[4], '*', 'm', ARGV[2])
  end
  if id == nil then
    n = 0
  elseif type(id) == 'string' then
    n = redis.call(ARGV[1], channel, ARGV[3] .. id .. '\n' .. ARGV[2])
    if n == 0 then
      redis.call('XDEL', key, id)
      if redis.call('XLEN', key) == 0 then redis.call('DEL', key) end
    else
      redis.call('PEXPIRE', key, ARGV[5])
    end
  else
    n = redis.call(ARGV[1], channel, ARGV[2])
  end
  out[i] = n
end
return out
";

/// KEYS: journals; ARGV: for each, how many ids follow, then those ids. Deletes the entries,
/// and each journal left empty. A key of another type is left alone.
const ACK_LUA: &str = r"
local at = 1
for i = 1, #KEYS do
  local n = tonumber(ARGV[at])
  redis.pcall('XDEL', KEYS[i], unpack(ARGV, at + 1, at + n))
  at = at + n + 1
  if redis.pcall('XLEN', KEYS[i]) == 0 then redis.call('DEL', KEYS[i]) end
end
return 0
";

static PUBLISH: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(PUBLISH_LUA));
static ACK: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(ACK_LUA));

/// Most sessions one publish script serves, and ids one acknowledgement script gets (Lua's
/// `unpack` has a stack limit).
const MAX_IDS: usize = 1000;

/// Publishes `message` to each of `ids`, journaled where a subscriber was counted (on one
/// node: a script per [`MAX_IDS`] sessions, so a large send never holds Redis for long).
/// Returns each id's subscriber count.
pub(super) async fn publish(
    conn: &Connection,
    keys: &PendingKeys,
    ids: &[String],
    message: &str,
    describe: impl FnOnce() -> String + Clone,
) -> Result<Vec<u64>> {
    let scripts = ids.chunks(MAX_IDS).map(|chunk| {
        let mut invocation = PUBLISH.prepare_invoke();
        for id in chunk {
            invocation.key(format!("{}{id}", keys.journal_prefix));
        }
        invocation
            .arg("PUBLISH")
            .arg(message)
            .arg(JOURNAL_TAG)
            .arg(JOURNAL_MAX)
            .arg(JOURNAL_TTL_SECS * 1000);
        for id in chunk {
            invocation.arg(format!("{}{id}", keys.channel_prefix));
        }
        let describe = describe.clone();
        async move { conn.invoke_script::<Vec<u64>>(&invocation, describe).await }
    });
    let counts = try_join_all(scripts).await?;
    Ok(counts.into_iter().flatten().collect())
}

/// Acknowledges `entries` (session id, journal id): see
/// [`crate::redis::Commands::acknowledge`].
pub(super) async fn acknowledge(
    conn: &Connection,
    keys: &PendingKeys,
    entries: &[(String, String)],
) -> Result<()> {
    let what = || format!("acknowledgement in {}*", keys.journal_prefix);
    if conn.cluster(what).await?.is_some() {
        return Ok(()); // nothing is journaled on a Cluster
    }
    let mut by_session: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (sid, id) in entries {
        by_session.entry(sid).or_default().push(id);
    }
    let mut sessions = by_session.into_iter().peekable();
    while sessions.peek().is_some() {
        let mut invocation = ACK.prepare_invoke();
        let mut count = 0;
        while let Some((sid, ids)) =
            sessions.next_if(|(_, ids)| count == 0 || count + ids.len() <= MAX_IDS)
        {
            for chunk in ids.chunks(MAX_IDS) {
                invocation
                    .key(format!("{}{sid}", keys.journal_prefix))
                    .arg(chunk.len())
                    .arg(chunk);
                count += chunk.len();
            }
        }
        conn.invoke_script::<()>(&invocation, what).await?;
    }
    Ok(())
}
