//! The deployment files, `Dockerfile` and `docker-compose.yaml`. No Docker engine runs
//! here, so this checks what can be checked without one: the compose file parses and is
//! the gateway with PostgreSQL; every environment name either file sets is one the gateway
//! reads; the image is multi-stage, non-root, with a volume and a health check; and the
//! image's own environment and config start a real gateway that its health-check command
//! finds alive (and then, once it is stopped, not). CI builds with the Dockerfile's cargo
//! line itself (`.ci/run`, "release build").

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Whether the gateway reads this environment variable: its configuration and command
/// line read variables by their quoted names, and README's table documents each.
fn read_by_gateway(name: &str) -> bool {
    let quoted = format!("\"{name}\"");
    let readers = [
        "crates/gateway/src/config.rs",
        "crates/cli/src/main.rs",
        "crates/cli/src/admin.rs",
    ];
    readers.iter().any(|file| read(file).contains(&quoted))
        && read("README.md").contains(&format!("`{name}`"))
}

/// The compose file's `gateway` service environment, as `NAME -> value`.
fn compose_gateway_env(compose: &Value) -> BTreeMap<String, String> {
    let env = &compose["services"]["gateway"]["environment"];
    let items = env.as_sequence().expect("gateway.environment is a list");
    items
        .iter()
        .map(|item| {
            let item = item.as_str().expect("NAME=value entries");
            let (name, value) = item.split_once('=').expect("NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_compose_file_is_the_gateway_with_postgres() {
    let compose: Value = serde_yaml_ng::from_str(&read("docker-compose.yaml")).unwrap();
    let env = compose_gateway_env(&compose);
    // The seed's entry, and persistence in the compose file's database.
    assert_eq!(env["MCP_GATEWAY_ENABLED"], "true");
    assert_eq!(env["STORE_MODEL_IN_DB"], "true");
    assert!(env["DATABASE_URL"].starts_with("postgres://"), "{env:?}");
    assert!(env["DATABASE_URL"].contains("@postgres:5432/"), "{env:?}");
    // Reachable from outside the container: a key is required (else loopback only).
    assert!(env["MCP_GATEWAY_MASTER_KEY"].contains(":?"), "{env:?}");
    for name in env.keys() {
        assert!(
            read_by_gateway(name),
            "compose sets {name}, which the gateway does not read"
        );
    }
    let postgres = &compose["services"]["postgres"];
    assert!(postgres["image"].as_str().unwrap().starts_with("postgres:"));
    assert!(postgres["healthcheck"].is_mapping());
    let depends = &compose["services"]["gateway"]["depends_on"]["postgres"]["condition"];
    assert_eq!(depends.as_str(), Some("service_healthy"));
    for volume in compose["services"]["gateway"]["volumes"]
        .as_sequence()
        .unwrap()
    {
        let source = volume.as_str().unwrap().split(':').next().unwrap();
        if source.starts_with("./") {
            assert!(
                repo().join(source).exists(),
                "compose mounts missing {source}"
            );
        }
    }
}

/// The Dockerfile's lines with continuations joined.
fn dockerfile() -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') && current.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                if !current.is_empty() {
                    lines.push(std::mem::take(&mut current));
                }
            }
        }
    }
    lines
}

fn instructions<'a>(lines: &'a [String], keyword: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(keyword)?.strip_prefix(' '))
        .map(str::trim)
        .collect()
}

/// The image's `ENV` settings.
fn image_env(lines: &[String]) -> BTreeMap<String, String> {
    instructions(lines, "ENV")
        .iter()
        .flat_map(|l| l.split_whitespace())
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("ENV NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_image_is_multi_stage_non_root_with_data_volume_and_health_check() {
    let lines = dockerfile();
    assert!(instructions(&lines, "FROM").len() >= 2, "multi-stage");
    let user = instructions(&lines, "USER");
    assert!(
        user.len() == 1 && !["root", "0"].contains(&user[0]),
        "{user:?}"
    );
    assert_eq!(instructions(&lines, "VOLUME"), [r#"["/data"]"#]);
    let health = instructions(&lines, "HEALTHCHECK");
    assert!(
        health.len() == 1 && health[0].contains(r#"CMD ["mcp-gateway", "health""#),
        "{health:?}"
    );
    let builds: Vec<_> = instructions(&lines, "RUN")
        .into_iter()
        .filter(|r| r.starts_with("cargo build"))
        .collect();
    assert_eq!(builds, ["cargo build --release --locked -p mcp-gateway"]);
    assert!(read(".ci/run").contains("s/^RUN \\(cargo build .*\\)$/\\1/p' Dockerfile"));
    for copy in instructions(&lines, "COPY") {
        if let [source, _] = copy.split_whitespace().collect::<Vec<_>>()[..]
            && source != "."
        {
            assert!(repo().join(source).exists(), "COPY of missing {source}");
        }
    }
    let env = image_env(&lines);
    assert_eq!(env["DATABASE_URL"], "sqlite:///data/mcp-gateway.db");
    for name in env.keys() {
        assert!(
            read_by_gateway(name),
            "the image sets {name}, which the gateway does not read"
        );
    }
    let ignored = read(".dockerignore");
    assert!(ignored.lines().any(|l| l == "target/"), "{ignored}");
}

/// `mcp-gateway health` (the image's health check) against `base`: its exit code.
fn health_check(base: &str, extra: &[&str]) -> i32 {
    Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["health", "--url", base, "--timeout", "5"])
        .args(extra)
        .env_remove("MCP_GATEWAY_MASTER_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .code()
        .unwrap_or(-1)
}

#[test]
fn the_images_environment_starts_a_gateway_its_health_check_accepts() {
    let lines = dockerfile();
    let data = tempfile::tempdir().unwrap();
    let port = mcp_gateway_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"));
    // The image's environment, with its paths moved here and loopback for the listener.
    for (name, value) in image_env(&lines) {
        let value = match name.as_str() {
            "MCP_GATEWAY_LISTEN" => format!("127.0.0.1:{port}"),
            "MCP_GATEWAY_CONFIG" => repo()
                .join("examples/docker/config.yaml")
                .display()
                .to_string(),
            "DATABASE_URL" => format!("sqlite://{}/mcp-gateway.db", data.path().display()),
            _ => value,
        };
        command.env(name, value);
    }
    let cmd = instructions(&lines, "CMD");
    assert_eq!(cmd, [r#"["serve"]"#]);
    let mut gateway = command
        .arg("serve")
        .env("MCP_GATEWAY_MASTER_KEY", "sk-image-test")
        .current_dir(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while health_check(&base, &[]) != 0 {
        assert!(Instant::now() < deadline, "the gateway did not come up");
        assert!(gateway.try_wait().unwrap().is_none(), "the gateway exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(health_check(&base, &["--ready"]), 0);
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    // Nothing listens any more: "cannot be reached" (EX_UNAVAILABLE).
    assert_eq!(health_check(&base, &[]), 69);
}
