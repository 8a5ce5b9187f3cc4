//! The store as a whole: saves, loads, the lock, takeover within a process.

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::*;

fn config(dir: &Path) -> FileStoreConfig {
    FileStoreConfig {
        path: dir.join("sub/sessions.json"),
        debounce: Duration::from_millis(5),
        max_age_ms: 86_400_000.0,
    }
}

fn meta(t: f64) -> Metadata {
    Metadata::from_json(format!(
        r#"{{"lastAccessedAt":{t},"clientInfo":{{"name":"x y"}}}}"#
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn flush_writes_a_0600_json_object_that_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, report) = FileStore::open(config(dir.path())).unwrap();
    assert_eq!(report, LoadReport::default());
    store.set("a\"b".into(), meta(now_ms()));
    store.set("c".into(), meta(now_ms()));
    store.flush().await.unwrap();
    let path = dir.path().join("sub/sessions.json");
    let text = fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert_eq!(v["a\"b"]["clientInfo"]["name"], "x y");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop(store);
    let (again, report) = FileStore::open(config(dir.path())).unwrap();
    assert_eq!(report.loaded, 2);
    assert_eq!(
        again.get("c"),
        Some(meta(v["c"]["lastAccessedAt"].as_f64().unwrap()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn debounced_save_happens_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = FileStore::open(config(dir.path())).unwrap();
    store.set("a".into(), meta(now_ms()));
    let path = dir.path().join("sub/sessions.json");
    for _ in 0..200 {
        if path.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert!(v.get("a").is_some());
}

#[test]
fn drops_stale_and_keeps_sessions_without_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let now = now_ms();
    fs::write(
        &path,
        format!(
            r#"{{"old":{{"lastAccessedAt":{}}},"new":{{"lastAccessedAt":{now}}},"none":{{}}}}"#,
            now - 10_000.0
        ),
    )
    .unwrap();
    let cfg = FileStoreConfig {
        path,
        debounce: Duration::from_millis(5),
        max_age_ms: 5_000.0,
    };
    let (store, report) = FileStore::open(cfg).unwrap();
    assert_eq!(report.dropped_stale, 1);
    let mut keys = store.keys();
    keys.sort();
    assert_eq!(keys, vec!["new", "none"]);
}

#[test]
fn corrupt_file_is_moved_aside_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    fs::write(&path, b"{\"a\": {\"lastAcc").unwrap();
    let cfg = FileStoreConfig {
        path: path.clone(),
        debounce: Duration::from_millis(5),
        max_age_ms: 1e9,
    };
    let (store, report) = FileStore::open(cfg).unwrap();
    assert!(store.is_empty());
    let aside = report.moved_corrupt_to.unwrap();
    assert_eq!(fs::read(&aside).unwrap(), b"{\"a\": {\"lastAcc");
    assert!(aside
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("s.json.corrupt-"));
    assert!(!path.exists());
}

#[test]
fn non_object_file_counts_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    fs::write(&path, b"[1,2]").unwrap();
    let cfg = FileStoreConfig {
        path,
        debounce: Duration::from_millis(5),
        max_age_ms: 1e9,
    };
    let (_, report) = FileStore::open(cfg).unwrap();
    assert!(report.moved_corrupt_to.is_some());
}

#[test]
fn unreadable_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: read fails with something other than NotFound.
    let path = dir.path().join("s.json");
    fs::create_dir(&path).unwrap();
    let cfg = FileStoreConfig {
        path,
        debounce: Duration::from_millis(5),
        max_age_ms: 1e9,
    };
    let err = FileStore::open(cfg).err().unwrap();
    assert!(err.to_string().contains("s.json"), "{err}");
    assert_eq!(err.op, "read");
}

#[test]
fn reference_pretty_file_loads_minified_with_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let now = now_ms();
    fs::write(&path, format!("{{\n  \"s1\": {{\n    \"zeta\": \"a b\\\" c\",\n    \"lastAccessedAt\": {now}\n  }}\n}}")).unwrap();
    let cfg = FileStoreConfig {
        path,
        debounce: Duration::from_millis(5),
        max_age_ms: 1e9,
    };
    let (store, _) = FileStore::open(cfg).unwrap();
    assert_eq!(
        store.get("s1").unwrap().as_json(),
        format!("{{\"zeta\":\"a b\\\" c\",\"lastAccessedAt\":{now}}}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn flush_all_blocking_writes_pending_changes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = FileStoreConfig {
        debounce: Duration::from_secs(3600),
        ..config(dir.path())
    };
    let (store, _) = FileStore::open(cfg).unwrap();
    store.set("pending".into(), meta(now_ms()));
    tokio::task::spawn_blocking(flush_all_blocking)
        .await
        .unwrap();
    let text = fs::read_to_string(dir.path().join("sub/sessions.json")).unwrap();
    assert!(text.contains("\"pending\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_flushes_do_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = FileStore::open(config(dir.path())).unwrap();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.set(format!("id{i}"), meta(now_ms()));
            s.flush().await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("sub/sessions.json")).unwrap())
            .unwrap();
    assert_eq!(v.as_object().unwrap().len(), 20);
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("sub"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn another_process_is_refused_by_the_lock_and_a_newer_store_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    // (A pending debounced save keeps its store, and so the lock, until it has run.)
    let cfg = FileStoreConfig {
        path: dir.path().join("s.json"),
        debounce: Duration::from_millis(5),
        max_age_ms: 1e9,
    };
    let (first, _) = FileStore::open(cfg.clone()).unwrap();
    first.set("from-first".into(), Metadata::from_json("{}"));
    // Another open file description, as another process would have: refused.
    let other = File::open(dir.path().join("s.json.lock")).unwrap();
    assert!(other.try_lock().is_err(), "the lock is held");
    // Same process: the newer store loads what the older had (written at takeover)...
    let (second, report) = FileStore::open(cfg.clone()).unwrap();
    assert_eq!(report.loaded, 1);
    assert!(second.has("from-first"));
    // ...and the older one no longer writes the file.
    first.set("late-write-of-first".into(), Metadata::from_json("{}"));
    second.set("from-second".into(), Metadata::from_json("{}"));
    flush_all_blocking();
    std::thread::sleep(Duration::from_millis(50)); // the older store's debounced save runs (and skips)
    let saved: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    let mut keys: Vec<&String> = saved.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["from-first", "from-second"]);
    assert!(other.try_lock().is_err(), "the newer store holds the lock");
    drop(first);
    drop(second);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while other.try_lock().is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the lock must be released with the last store"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn stale_temp_files_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    fs::write(dir.path().join("s.json.12345.tmp"), b"{partial").unwrap();
    fs::write(dir.path().join("s.json.notes.tmp"), b"keep").unwrap();
    fs::write(dir.path().join("other.json.1.tmp"), b"keep").unwrap();
    let cfg = FileStoreConfig {
        path,
        debounce: Duration::from_millis(5),
        max_age_ms: 1e9,
    };
    let _store = FileStore::open(cfg).unwrap();
    assert!(!dir.path().join("s.json.12345.tmp").exists());
    assert!(dir.path().join("s.json.notes.tmp").exists());
    assert!(dir.path().join("other.json.1.tmp").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_and_health_follow_the_saves_and_a_failed_one_degrades() {
    use crate::metrics::health::Status;
    let dir = tempfile::tempdir().unwrap();
    let config = FileStoreConfig {
        debounce: Duration::from_secs(3600), // only the flushes below save
        ..config(dir.path())
    };
    let (store, _) = FileStore::open(config).unwrap();
    assert_eq!(store.health().status, Status::Ok);
    store.set("a".into(), meta(now_ms()));
    store.set("b".into(), meta(now_ms()));
    let (sessions, saves, unsaved) = store.stats();
    assert_eq!((sessions.sessions, saves.saves, unsaved), (2, 0, 2));
    store.flush().await.unwrap();
    let health = store.health();
    assert_eq!((health.status, health.unsaved_changes), (Status::Ok, 0));
    assert!(health.last_save.is_some_and(|s| s.error.is_none()));

    // The file's place taken by a directory: the rename over it fails.
    let path = dir.path().join("sub/sessions.json");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    store.delete("a");
    assert!(store.flush().await.is_err());
    let health = store.health();
    assert_eq!(
        (health.status, health.unsaved_changes),
        (Status::Degraded, 1)
    );
    let reason = health.reason.unwrap();
    assert!(
        reason.starts_with("the last save failed (") && reason.contains("sessions.json"),
        "{reason}"
    );
    let (_, saves, _) = store.stats();
    assert_eq!(
        (saves.saves, saves.save_errors, saves.latency.count),
        (1, 1, 2)
    );

    fs::remove_dir(&path).unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.health().status, Status::Ok, "a good save clears it");
    assert_eq!(store.stats().2, 0);
}
