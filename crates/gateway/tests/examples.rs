//! Every `examples/*/config.yaml` must load: the docs may not drift from the code.

use std::path::PathBuf;

use mcp_gateway::config::{MapEnv, Overrides, Settings};

#[test]
fn every_example_config_loads() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = 0;
    for dir in std::fs::read_dir(&root).expect("examples/ exists") {
        let path = dir.unwrap().path().join("config.yaml");
        if !path.exists() {
            continue;
        }
        let settings = Settings::load(Some(&path), &Overrides::default(), &MapEnv::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // An example without servers says so (`mcp_servers: {}`: they come through the API).
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !settings.servers.is_empty() || text.contains("\nmcp_servers: {}"),
            "{} defines no servers",
            path.display()
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "no example configs found under {}",
        root.display()
    );
}
