//! The persistent server store ([`SqlStore`]) against SQLite and PostgreSQL.
//!
//! Every scenario runs twice: `<scenario>::sqlite` on a temporary file and
//! `<scenario>::postgres` on a database created for that test alone
//! (`mcpgw_test_<pid>_<nanos>_<n>`, dropped afterwards, even when the test fails).
//!
//! PostgreSQL is reached at `MCP_GATEWAY_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, trust auth). If it is unreachable the
//! Postgres tests fail, unless `MCP_GATEWAY_SKIP_PG=1`, which skips them with a notice.
//!
//! The kill -9 tests run this test binary again as a child ("writer" mode, selected by
//! `MCP_GATEWAY_STORE_TEST_WRITER_URL`; see [`writer_process`]) that inserts records and
//! prints each id once its insert has returned; the parent SIGKILLs it mid-storm and checks
//! that every acknowledged id survived.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use mcp_gateway::model::{AuthType, ServerRecord, TransportKind};
use mcp_gateway::secret::Secret;
use mcp_gateway::secret::at_rest::{OpenError, SecretKey};
use mcp_gateway::store::{ServerStore, SqlStore, StoreError};
use sqlx::Connection;

const SKIP_PG_ENV: &str = "MCP_GATEWAY_SKIP_PG";
const PG_ADMIN_ENV: &str = "MCP_GATEWAY_TEST_PG_URL";
const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

const WRITER_URL_ENV: &str = "MCP_GATEWAY_STORE_TEST_WRITER_URL";
const WRITER_PREFIX_ENV: &str = "MCP_GATEWAY_STORE_TEST_WRITER_PREFIX";
const WRITER_TASKS_ENV: &str = "MCP_GATEWAY_STORE_TEST_WRITER_TASKS";
const WRITER_LIMIT_ENV: &str = "MCP_GATEWAY_STORE_TEST_WRITER_LIMIT";
const WRITER_TASKS: usize = 4;

// ---------------------------------------------------------------------------------------
// The scenarios, each run against both backends.
// ---------------------------------------------------------------------------------------

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::run_on_sqlite(super::$scenario).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::run_on_postgres(stringify!($scenario), super::$scenario).await;
            }
        }
    )*};
}

on_both_backends!(
    crud,
    secrets_round_trip,
    secrets_encrypted_at_rest,
    plaintext_rows_load_and_are_sealed_on_next_write,
    reopen_keeps_data_and_migrations_are_idempotent,
    corrupt_row_is_reported,
    describe_hides_password,
    concurrent_writes,
    kill_9_loses_no_acknowledged_write,
    policies_round_trip,
    credentials_sealed_at_rest,
    tool_approvals_round_trip,
);

/// Approved tool definitions: one per (server, tool), replaced in place, a server's all
/// deleted together.
async fn tool_approvals_round_trip(url: String) {
    use mcp_gateway::store::ToolApproval;
    let store = SqlStore::connect(&url).await.expect("connect");
    let approval = |server: &str, tool: &str, fingerprint: &str| ToolApproval {
        server_id: server.into(),
        tool: tool.into(),
        fingerprint: fingerprint.into(),
    };
    store
        .save_tool_approval(&approval("a", "echo", "1"))
        .await
        .unwrap();
    store
        .save_tool_approval(&approval("a", "add", "2"))
        .await
        .unwrap();
    store
        .save_tool_approval(&approval("b", "echo", "3"))
        .await
        .unwrap();
    store
        .save_tool_approval(&approval("a", "echo", "4"))
        .await
        .unwrap();
    let mut loaded = store.load_tool_approvals().await.unwrap();
    loaded.sort_by(|x, y| (&x.server_id, &x.tool).cmp(&(&y.server_id, &y.tool)));
    assert_eq!(
        loaded,
        [
            approval("a", "add", "2"),
            approval("a", "echo", "4"),
            approval("b", "echo", "3")
        ]
    );
    store.delete_tool_approvals("a").await.unwrap();
    assert_eq!(
        store.load_tool_approvals().await.unwrap(),
        [approval("b", "echo", "3")]
    );
    store.close().await;
}

/// Callers' credentials: sealed with the key (the column never holds the value), replaced
/// in place, deleted; without the key they do not load.
async fn credentials_sealed_at_rest(url: String) {
    use mcp_gateway::store::StoredCredential;
    let key = SecretKey::parse(AT_REST_KEY).unwrap();
    let store = SqlStore::connect(&url)
        .await
        .expect("connect")
        .with_secret_key(Some(key.clone()));
    let credential = |principal: &str, value: &str| StoredCredential {
        server_id: "gh".into(),
        principal: principal.into(),
        value: Secret::new(value),
    };
    store
        .save_credential(&credential("key:a", "ghp-alice-1"))
        .await
        .unwrap();
    store
        .save_credential(&credential("key:a", "ghp-alice-2"))
        .await
        .unwrap();
    store
        .save_credential(&credential("jwt:bob", "ghp-bob"))
        .await
        .unwrap();
    let concat = if url.starts_with("sqlite") {
        "SELECT group_concat(value, ',') FROM mcp_credentials"
    } else {
        "SELECT string_agg(value, ',') FROM mcp_credentials"
    };
    let raw = raw_string(&url, concat).await;
    assert!(!raw.contains("ghp-"), "plaintext at rest: {raw}");
    let mut loaded = store.load_credentials().await.unwrap();
    loaded.sort_by(|a, b| a.principal.cmp(&b.principal));
    assert_eq!(
        loaded,
        vec![
            credential("jwt:bob", "ghp-bob"),
            credential("key:a", "ghp-alice-2")
        ]
    );
    assert!(store.delete_credential("gh", "key:a").await.unwrap());
    assert!(!store.delete_credential("gh", "key:a").await.unwrap());
    store.close().await;
    let without_key = SqlStore::connect(&url).await.expect("connect");
    assert!(
        without_key.load_credentials().await.is_err(),
        "sealed values need the key"
    );
    without_key.close().await;
}

/// Policies: saved in order, replaced in place (same position, new record), deleted.
async fn policies_round_trip(url: String) {
    use mcp_gateway::access::policy::PolicySpec;
    let store = SqlStore::connect(&url).await.expect("connect");
    let policy = |name: &str, when: &str| {
        let spec: PolicySpec =
            serde_json::from_value(serde_json::json!({"effect": "deny", "when": when})).unwrap();
        spec.record(name.into(), None).unwrap()
    };
    let (a, b) = (
        policy("a", "tool.name == 'x'"),
        policy("b", "'it' in caller.groups"),
    );
    store.save_policy(&a).await.unwrap();
    store.save_policy(&b).await.unwrap();
    let a2 = policy("a", "tool.name == \"it's\" && true");
    store.save_policy(&a2).await.unwrap();
    assert_eq!(
        store.load_policies().await.unwrap(),
        vec![a2.clone(), b.clone()]
    );
    assert!(store.delete_policy("a").await.unwrap());
    assert!(!store.delete_policy("a").await.unwrap());
    assert_eq!(store.load_policies().await.unwrap(), vec![b]);
    store.close().await;
}

/// Insert/load order, duplicate, replace (in place), replace-missing, delete, re-insert.
async fn crud(url: String) {
    let store = SqlStore::connect(&url).await.expect("connect");
    store.ping().await.expect("ping");
    assert_eq!(store.load_all().await.unwrap(), vec![]);

    let (a, b, c) = (record("alpha"), record("bravo"), record("charlie"));
    for r in [&a, &b, &c] {
        store.insert(r).await.expect("insert");
    }
    assert_eq!(
        store.load_all().await.unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );

    // A duplicate is refused and changes nothing.
    let mut b_again = record("bravo");
    b_again.name = "another bravo".into();
    match store.insert(&b_again).await {
        Err(StoreError::Duplicate(id)) => assert_eq!(id, "bravo"),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(
        store.load_all().await.unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );

    // Replace keeps the registration position.
    let mut b2 = b.clone();
    b2.url = Some("http://127.0.0.1:9/other".into());
    b2.tools = vec!["only_this".into()];
    store.replace(&b2).await.expect("replace");
    assert_eq!(
        store.load_all().await.unwrap(),
        vec![a.clone(), b2.clone(), c.clone()]
    );

    match store.replace(&record("zulu")).await {
        Err(StoreError::NotFound(id)) => assert_eq!(id, "zulu"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        store.load_all().await.unwrap().len(),
        3,
        "replace of a missing id inserted a row"
    );

    assert!(store.delete("bravo").await.unwrap());
    assert!(!store.delete("bravo").await.unwrap());
    assert!(!store.delete("never-stored").await.unwrap());
    assert_eq!(store.load_all().await.unwrap(), vec![a.clone(), c.clone()]);

    // Registered again after a delete: it goes to the end, like the memory store.
    store.insert(&b).await.expect("re-insert");
    assert_eq!(store.load_all().await.unwrap(), vec![a, c, b]);
    store.close().await;
}

/// Secrets are stored with their real value (not `***`) and come back intact, as do
/// metadata key order and awkward characters.
async fn secrets_round_trip(url: String) {
    let mut r = record("secretive");
    r.auth_type = AuthType::BearerToken;
    r.auth_value = Some(Secret::new("tok-3n\u{e9}'\"\\;-- DROP TABLE mcp_servers"));
    r.headers = BTreeMap::from([
        ("X-Tenant".to_owned(), Secret::new("t-42")),
        ("X-Api-Key".to_owned(), Secret::new("k3y:with:colons")),
    ]);
    r.api_key_header = Some("X-Other-Key".into());
    let mut stdio = record("stdio-one");
    stdio.url = None;
    stdio.transport = Some(TransportKind::Stdio);
    stdio.command = Some("/usr/bin/env".into());
    stdio.args = vec!["python3".into(), "-m".into(), "srv".into()];
    stdio.env = BTreeMap::from([("API_TOKEN".to_owned(), Secret::new("env-secret"))]);
    stdio.cwd = Some("/tmp".into());
    stdio.metadata =
        serde_json::from_str(r#"{"zeta":1,"alpha":{"nested":[1,"two",null]},"m":"ü"}"#).unwrap();

    let store = SqlStore::connect(&url).await.expect("connect");
    store.insert(&r).await.unwrap();
    store.insert(&stdio).await.unwrap();
    store.close().await;

    let store = SqlStore::connect(&url).await.expect("reconnect");
    let loaded = store.load_all().await.unwrap();
    assert_eq!(loaded, vec![r.clone(), stdio.clone()]);
    assert_eq!(
        loaded[0].auth_value.as_ref().unwrap().expose(),
        "tok-3n\u{e9}'\"\\;-- DROP TABLE mcp_servers"
    );
    assert_eq!(loaded[0].headers["X-Api-Key"].expose(), "k3y:with:colons");
    assert_eq!(loaded[1].env["API_TOKEN"].expose(), "env-secret");
    let keys: Vec<&str> = loaded[1].metadata.keys().map(String::as_str).collect();
    assert_eq!(keys, ["zeta", "alpha", "m"], "metadata key order");

    let raw = raw_string(
        &url,
        "SELECT record FROM mcp_servers WHERE server_id = 'stdio-one'",
    )
    .await;
    assert!(
        raw.contains("env-secret"),
        "the stored JSON must hold the real value: {raw}"
    );
    store.close().await;
}

const AT_REST_KEY: &str = "8c1f0e9d2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5";

/// A record with a distinct secret in each secret field.
fn secret_record(id: &str) -> ServerRecord {
    let mut r = record(id);
    r.auth_type = AuthType::BearerToken;
    r.auth_value = Some(Secret::new(format!("plain-auth-{id}")));
    r.headers = BTreeMap::from([(
        "X-Tenant".to_owned(),
        Secret::new(format!("plain-hdr-{id}")),
    )]);
    r.env = BTreeMap::from([("TOKEN".to_owned(), Secret::new(format!("plain-env-{id}")))]);
    r
}

/// Everything the database holds: for SQLite every file of the database (main file, WAL,
/// shared memory), byte for byte; for Postgres every stored row.
async fn raw_database(url: &str) -> Vec<u8> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let dir = Path::new(path).parent().unwrap();
        let mut all = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap_or_default());
        }
        assert!(!all.is_empty());
        all
    } else {
        raw_string(
            url,
            "SELECT COALESCE(string_agg(record, ''), '') FROM mcp_servers",
        )
        .await
        .into_bytes()
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// With a key, no secret value reaches the database in plaintext; they come back intact
/// with the key, and without it (or with another) loading fails naming server and field.
async fn secrets_encrypted_at_rest(url: String) {
    let key = SecretKey::parse(AT_REST_KEY).unwrap();
    let store = SqlStore::connect(&url)
        .await
        .expect("connect")
        .with_secret_key(Some(key.clone()));
    let (a, mut b) = (secret_record("enc-a"), secret_record("enc-b"));
    store.insert(&a).await.unwrap();
    store.insert(&b).await.unwrap();
    b.auth_value = Some(Secret::new("plain-auth-replaced"));
    store.replace(&b).await.unwrap();
    assert_eq!(store.load_all().await.unwrap(), vec![a.clone(), b.clone()]);
    store.close().await;

    let raw = raw_database(&url).await;
    for secret in [
        "plain-auth-enc-a",
        "plain-hdr-enc-a",
        "plain-env-enc-a",
        "plain-hdr-enc-b",
        "plain-env-enc-b",
        "plain-auth-replaced",
        AT_REST_KEY,
    ] {
        assert!(!contains(&raw, secret), "{secret} is stored in plaintext");
    }
    assert!(contains(&raw, "enc:v1:"), "sealed values are stored");
    assert!(
        contains(&raw, "X-Tenant"),
        "only values are sealed, not names"
    );
    let row = raw_string(
        &url,
        "SELECT record FROM mcp_servers WHERE server_id = 'enc-a'",
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&row).unwrap();
    assert!(json["auth_value"].as_str().unwrap().starts_with("enc:v1:"));
    assert!(
        json["env"]["TOKEN"]
            .as_str()
            .unwrap()
            .starts_with("enc:v1:")
    );

    // Reopened with the same key: intact.
    let store = SqlStore::connect(&url)
        .await
        .unwrap()
        .with_secret_key(SecretKey::parse(AT_REST_KEY));
    assert_eq!(store.load_all().await.unwrap(), vec![a.clone(), b.clone()]);
    store.close().await;

    // Without a key, or with another one: an error naming the server, never the value.
    let store = SqlStore::connect(&url).await.unwrap();
    let err = store.load_all().await.unwrap_err();
    match &err {
        StoreError::Secret {
            server_id,
            field,
            error,
        } => {
            assert_eq!(
                (server_id.as_str(), field.as_str()),
                ("enc-a", "auth_value")
            );
            assert_eq!(*error, OpenError::NoKey);
        }
        other => panic!("expected Secret, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("enc-a") && message.contains("MCP_GATEWAY_SECRET_KEY"),
        "{message}"
    );
    assert!(!message.contains("plain-auth"), "{message}");
    store.close().await;
    let store = SqlStore::connect(&url)
        .await
        .unwrap()
        .with_secret_key(SecretKey::parse("not the key"));
    match store.load_all().await.unwrap_err() {
        StoreError::Secret {
            server_id, error, ..
        } => {
            assert_eq!(server_id, "enc-a");
            assert_eq!(error, OpenError::WrongKey);
        }
        other => panic!("expected Secret, got {other:?}"),
    }
    store.close().await;
}

/// Rows written before a key was configured keep loading once it is; a row is sealed the
/// next time it is written.
async fn plaintext_rows_load_and_are_sealed_on_next_write(url: String) {
    let old = secret_record("old");
    let store = SqlStore::connect(&url).await.expect("connect");
    store.insert(&old).await.unwrap();
    store.close().await;
    assert!(contains(&raw_database(&url).await, "plain-auth-old"));

    let store = SqlStore::connect(&url)
        .await
        .unwrap()
        .with_secret_key(SecretKey::parse(AT_REST_KEY));
    assert_eq!(store.load_all().await.unwrap(), vec![old.clone()]);
    store.replace(&old).await.unwrap();
    let row = raw_string(
        &url,
        "SELECT record FROM mcp_servers WHERE server_id = 'old'",
    )
    .await;
    assert!(!row.contains("plain-"), "{row}");
    assert_eq!(store.load_all().await.unwrap(), vec![old]);
    store.close().await;
}

/// Data survives closing and reopening; reopening runs the migrator again harmlessly.
async fn reopen_keeps_data_and_migrations_are_idempotent(url: String) {
    let store = SqlStore::connect(&url).await.expect("connect");
    store.insert(&record("one")).await.unwrap();
    store.insert(&record("two")).await.unwrap();
    store.close().await;
    drop(store);

    for round in 0..3 {
        let store = SqlStore::connect(&url).await.expect("reopen");
        let ids = ids(&store.load_all().await.unwrap());
        assert_eq!(ids[..2], ["one", "two"], "round {round}");
        store
            .insert(&record(&format!("after-reopen-{round}")))
            .await
            .unwrap();
        store.close().await;
    }

    let store = SqlStore::connect(&url).await.expect("reopen");
    assert_eq!(
        ids(&store.load_all().await.unwrap()),
        [
            "one",
            "two",
            "after-reopen-0",
            "after-reopen-1",
            "after-reopen-2"
        ]
    );
    store.close().await;

    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count() as i64;
    assert!(files >= 1);
    let applied = raw_i64(&url, "SELECT COUNT(*) FROM _sqlx_migrations WHERE success").await;
    let rows = raw_i64(&url, "SELECT COUNT(*) FROM _sqlx_migrations").await;
    assert_eq!(
        (applied, rows),
        (files, files),
        "each migration applied exactly once"
    );
}

/// A row whose JSON does not parse makes `load_all` fail with `Corrupt` naming that row.
async fn corrupt_row_is_reported(url: String) {
    let store = SqlStore::connect(&url).await.expect("connect");
    store.insert(&record("fine")).await.unwrap();

    raw_execute(
        &url,
        "INSERT INTO mcp_servers (server_id, record) VALUES ('broken', '{not json')",
    )
    .await;
    match store.load_all().await {
        Err(StoreError::Corrupt { server_id, message }) => {
            assert_eq!(server_id, "broken");
            assert!(message.contains("not valid JSON"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The damaged row can be deleted through the store, which then loads again.
    assert!(store.delete("broken").await.unwrap());
    assert_eq!(ids(&store.load_all().await.unwrap()), ["fine"]);

    // Valid JSON that is not a server record, with a secret-looking value: reported by
    // path, without quoting the value.
    raw_execute(
        &url,
        r#"INSERT INTO mcp_servers (server_id, record) VALUES ('typed', '{"server_id":"typed","headers":{"X":["hunter2"]}}')"#,
    )
    .await;
    match store.load_all().await {
        Err(StoreError::Corrupt { server_id, message }) => {
            assert_eq!(server_id, "typed");
            assert!(message.contains("headers"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(store.delete("typed").await.unwrap());

    // A record stored under another id's row.
    raw_execute(
        &url,
        r#"INSERT INTO mcp_servers (server_id, record) VALUES ('mislabelled', '{"server_id":"other"}')"#,
    )
    .await;
    match store.load_all().await {
        Err(StoreError::Corrupt { server_id, .. }) => assert_eq!(server_id, "mislabelled"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    store.close().await;
}

/// `describe()` (and `Debug`) never show a password.
async fn describe_hides_password(url: String) {
    if url.starts_with("sqlite") {
        let store = SqlStore::connect(&url).await.expect("connect");
        assert_eq!(store.describe(), url);
        store.close().await;
        return;
    }
    // Trust auth ignores the password, so the connection succeeds with any.
    let mut with_password = url::Url::parse(&url).unwrap();
    with_password.set_password(Some("hunter2")).unwrap();
    let store = SqlStore::connect(with_password.as_str())
        .await
        .expect("connect");
    let described = store.describe();
    assert!(!described.contains("hunter2"), "{described}");
    assert!(described.contains(":***@"), "{described}");
    assert!(!format!("{store:?}").contains("hunter2"));
    store.close().await;

    let mut in_query = url::Url::parse(&url).unwrap();
    in_query
        .query_pairs_mut()
        .append_pair("password", "hunter2");
    let store = SqlStore::connect(in_query.as_str()).await.expect("connect");
    assert!(
        !store.describe().contains("hunter2"),
        "{}",
        store.describe()
    );
    store.close().await;
}

/// Concurrent inserts all land; concurrent inserts of one id: exactly one wins.
async fn concurrent_writes(url: String) {
    let store = Arc::new(SqlStore::connect(&url).await.expect("connect"));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.insert(&record(&format!("par-{i:02}"))).await
        }));
    }
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.insert(&record("contested")).await
        }));
    }
    let mut won = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(()) if i >= 16 => won += 1,
            Ok(()) => {}
            Err(StoreError::Duplicate(id)) if i >= 16 => assert_eq!(id, "contested"),
            Err(e) => panic!("insert {i}: {e}"),
        }
    }
    assert_eq!(won, 1, "exactly one insert of the contested id succeeds");
    let stored: BTreeSet<String> = ids(&store.load_all().await.unwrap()).into_iter().collect();
    let mut expected: BTreeSet<String> = (0..16).map(|i| format!("par-{i:02}")).collect();
    expected.insert("contested".into());
    assert_eq!(stored, expected);
    store.close().await;
}

/// A writer process is SIGKILLed in the middle of a storm of inserts: every insert it had
/// acknowledged is present afterwards, nothing half-written is, and (SQLite) the file
/// passes `PRAGMA integrity_check`. Twice, so the second storm starts from a database left
/// behind by a killed process.
async fn kill_9_loses_no_acknowledged_write(url: String) {
    let mut all_acked = BTreeSet::new();
    for round in 0..2 {
        let prefix = format!("r{round}");
        let (url2, prefix2) = (url.clone(), prefix.clone());
        let acked = tokio::task::spawn_blocking(move || storm_and_kill(&url2, &prefix2, 150))
            .await
            .unwrap();
        assert!(acked.len() >= 150, "round {round}: {} acks", acked.len());

        let store = SqlStore::connect(&url).await.expect("reopen after kill -9");
        let loaded = store.load_all().await.expect("every stored row parses");
        let stored: BTreeSet<String> = ids(&loaded).into_iter().collect();
        all_acked.extend(acked.iter().cloned());
        let lost: Vec<&String> = all_acked.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged but lost: {lost:?}"
        );
        // Inserts that committed but whose ack was never printed: at most one per writer.
        let unacked: Vec<&String> = stored
            .iter()
            .filter(|id| id.starts_with(&prefix) && !acked.contains(*id))
            .collect();
        assert!(
            unacked.len() <= WRITER_TASKS,
            "round {round}: more committed rows than inserts in flight at the kill: {unacked:?}"
        );
        for r in &loaded {
            assert_eq!(
                r,
                &writer_record(&r.server_id),
                "row {} is intact",
                r.server_id
            );
        }
        // Still writable: no stale lock left behind.
        store
            .insert(&writer_record(&format!("{prefix}-after")))
            .await
            .expect("insert after kill");
        store.close().await;

        if url.starts_with("sqlite") {
            let check = raw_string(&url, "PRAGMA integrity_check").await;
            assert_eq!(check, "ok", "round {round}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Backend-independent tests.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unsupported_urls_are_refused_without_leaking_passwords() {
    for url in [
        "mysql://root:hunter2@localhost/db",
        "http://example.com/db",
        "mcp-gateway.db",
        "/var/lib/mcp-gateway.db",
        "",
        "sqlite://",
        "sqlite:",
        "sqlitex://x.db",
    ] {
        match SqlStore::connect(url).await {
            Err(e @ StoreError::UnsupportedUrl(_)) => {
                assert!(!e.to_string().contains("hunter2"), "{e}");
            }
            other => panic!("{url:?}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sqlite_url_forms() {
    let dir = tempfile::tempdir().unwrap();

    // `sqlite:PATH` (no slashes) with an absolute path; the file is created.
    let path = dir.path().join("short-form.db");
    let url = format!("sqlite:{}", path.display());
    let store = SqlStore::connect(&url).await.expect("connect");
    store.insert(&record("x")).await.unwrap();
    store.close().await;
    assert!(path.is_file());
    assert_eq!(raw_string(&url, "PRAGMA journal_mode").await, "wal");

    // `sqlite::memory:`: usable, and each store is its own database.
    let one = SqlStore::connect("sqlite::memory:").await.expect("memory");
    let two = SqlStore::connect("sqlite::memory:").await.expect("memory");
    one.insert(&record("only-in-one")).await.unwrap();
    assert_eq!(ids(&one.load_all().await.unwrap()), ["only-in-one"]);
    assert_eq!(two.load_all().await.unwrap(), vec![]);
    two.ping().await.unwrap();

    // A missing directory is an error, not a panic.
    let url = format!("sqlite://{}", dir.path().join("no/such/dir/x.db").display());
    assert!(matches!(
        SqlStore::connect(&url).await,
        Err(StoreError::Database(_))
    ));
}

/// `sqlite://RELATIVE` is relative to the working directory (checked in a child process,
/// since the working directory is process-wide).
#[tokio::test]
async fn sqlite_relative_path_is_relative_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let output = writer_command("sqlite://relative.db", "rel")
        .env(WRITER_TASKS_ENV, "1")
        .env(WRITER_LIMIT_ENV, "3")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "writer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = dir.path().join("relative.db");
    assert!(
        path.is_file(),
        "relative.db not created in the working directory"
    );
    let store = SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_eq!(
        ids(&store.load_all().await.unwrap()),
        ["rel-0-000000", "rel-0-000001", "rel-0-000002"]
    );
    store.close().await;
}

// ---------------------------------------------------------------------------------------
// The kill -9 writer.
// ---------------------------------------------------------------------------------------

/// Writer mode for the kill -9 tests: a no-op unless `MCP_GATEWAY_STORE_TEST_WRITER_URL`
/// is set. Runs `WRITER_TASKS` concurrent insert loops (ids `<prefix>-<task>-<n>`), printing
/// `ACK <id> ok` after each insert returns, until killed (or `..._LIMIT` inserts per task).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_process() {
    let Ok(url) = std::env::var(WRITER_URL_ENV) else {
        return;
    };
    let prefix = std::env::var(WRITER_PREFIX_ENV).unwrap_or_else(|_| "w".into());
    let tasks: usize = std::env::var(WRITER_TASKS_ENV).map_or(WRITER_TASKS, |v| v.parse().unwrap());
    let limit: usize = std::env::var(WRITER_LIMIT_ENV).map_or(usize::MAX, |v| v.parse().unwrap());
    let store = Arc::new(SqlStore::connect(&url).await.expect("writer: connect"));
    let deadline = Instant::now() + Duration::from_secs(120);
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let (store, prefix) = (store.clone(), prefix.clone());
            tokio::spawn(async move {
                for n in 0..limit {
                    assert!(Instant::now() < deadline, "writer: never killed");
                    let id = format!("{prefix}-{task}-{n:06}");
                    store
                        .insert(&writer_record(&id))
                        .await
                        .expect("writer: insert");
                    // One write(2) per line, so a kill never leaves half a line.
                    let line = format!("ACK {id} ok\n");
                    let mut out = std::io::stdout().lock();
                    out.write_all(line.as_bytes()).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    store.close().await;
}

fn writer_command(url: &str, prefix: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "writer_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_URL_ENV, url)
        .env(WRITER_PREFIX_ENV, prefix)
        .env_remove(WRITER_TASKS_ENV)
        .env_remove(WRITER_LIMIT_ENV)
        .stdin(Stdio::null());
    command
}

/// Starts a writer, SIGKILLs it once it has acknowledged `kill_after` inserts, and returns
/// every id it acknowledged (including lines already in the pipe at the kill).
fn storm_and_kill(url: &str, prefix: &str, kill_after: usize) -> Vec<String> {
    let mut child = writer_command(url, prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Not anchored at the line start: with one test thread libtest prints
    // `test writer_process ... ` without a newline, so the first ack shares its line.
    let ack = |line: &str| {
        line.split_once("ACK ")
            .and_then(|(_, rest)| rest.strip_suffix(" ok"))
            .map(str::to_owned)
    };

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut acked = Vec::new();
    while acked.len() < kill_after {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => acked.extend(ack(&line)),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "writer stopped after {} acks; its stderr:\n{}",
                    acked.len(),
                    stderr.join().unwrap()
                );
            }
        }
    }
    child.kill().expect("SIGKILL the writer"); // std sends SIGKILL on Unix
    let status = child.wait().unwrap();
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "writer was not killed by SIGKILL: {status}"
        );
    }
    // The pipe closes with the process: drain what it printed before dying.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        acked.extend(ack(&line));
    }
    acked
}

fn writer_record(id: &str) -> ServerRecord {
    let mut r = record(id);
    r.auth_type = AuthType::ApiKey;
    r.auth_value = Some(Secret::new(format!("secret-for-{id}")));
    r.headers = BTreeMap::from([("X-Request-Source".to_owned(), Secret::new("storm"))]);
    r.metadata.insert("padding".into(), "x".repeat(512).into());
    r
}

// ---------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------

fn record(id: &str) -> ServerRecord {
    let mut r: ServerRecord = serde_json::from_value(serde_json::json!({
        "server_id": id,
        "name": format!("Server {id}"),
        "url": format!("http://127.0.0.1:9/{id}/mcp"),
        "tools": ["echo", "add"],
        "metadata": {"owner": "tests"},
    }))
    .unwrap();
    r.timeout_secs = Some(30);
    r
}

fn ids(records: &[ServerRecord]) -> Vec<String> {
    records.iter().map(|r| r.server_id.clone()).collect()
}

async fn run_on_sqlite<F, Fut>(scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    scenario(format!(
        "sqlite://{}",
        dir.path().join("mcp-gateway.db").display()
    ))
    .await;
}

async fn run_on_postgres<F, Fut>(test: &str, scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    if std::env::var(SKIP_PG_ENV).is_ok_and(|v| v == "1") {
        eprintln!("NOTICE: {test}::postgres skipped ({SKIP_PG_ENV}=1)");
        return;
    }
    let admin_url = std::env::var(PG_ADMIN_ENV).unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.into());
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!(
        "mcpgw_test_{}_{nanos}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );

    pg_admin(&admin_url, &format!("CREATE DATABASE {name}")).await;
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    let outcome = AssertUnwindSafe(scenario(url.to_string()))
        .catch_unwind()
        .await;
    pg_admin(
        &admin_url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn pg_admin(admin_url: &str, sql: &str) {
    let connect = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::PgConnection::connect(admin_url),
    );
    let mut conn = match connect.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => pg_unreachable(admin_url, &e.to_string()),
        Err(_) => pg_unreachable(admin_url, "timed out after 10 s"),
    };
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.unwrap();
}

fn pg_unreachable(admin_url: &str, error: &str) -> ! {
    panic!(
        "PostgreSQL is unreachable at {admin_url} ({error}). Start it (trust auth for user \
         postgres), point {PG_ADMIN_ENV} at one, or set {SKIP_PG_ENV}=1 to skip the Postgres tests."
    )
}

/// Runs raw SQL on the store's database, bypassing the store.
async fn raw_execute(url: &str, sql: &str) {
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
}

async fn raw_string(url: &str, sql: &str) -> String {
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let (s,): (String,) = sqlx::query_as(sql).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        s
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let (s,): (String,) = sqlx::query_as(sql).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        s
    }
}

async fn raw_i64(url: &str, sql: &str) -> i64 {
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        n
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        n
    }
}
