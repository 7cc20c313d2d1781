//! The crate graph stays layered (docs/architecture.md): read from the manifests, the normal
//! dependencies between medgen crates point from higher layers to lower ones only,
//! `medgen-metrics` needs nothing but `medgen-core` and `medgen-sdf`, and the longest chain
//! from the root package to `medgen-core` is at most five crates.

use std::collections::BTreeMap;
use std::path::Path;

/// The layer of every crate: a crate may depend only on crates of a lower layer.
/// `medgen-testing` is a dev-dependency of every crate and a normal dependency of none.
const LAYERS: [(&str, usize); 15] = [
    ("medgen-core", 0),
    ("medgen-testing", 1),
    ("medgen-nn", 1),
    ("medgen-data", 1),
    ("medgen-train", 1),
    ("medgen-sdf", 1),
    ("medgen-diffusion", 2),
    ("medgen-flow", 2),
    ("medgen-gan", 2),
    ("medgen-metrics", 2),
    ("medgen-vae", 3),
    ("medgen-seg", 3),
    ("medgen-apps", 3),
    ("medgen-recon", 3),
    ("medgen", 4),
];

/// The medgen crates named in the `[dependencies]` table of a manifest.
fn normal_medgen_dependencies(manifest: &str) -> Vec<String> {
    let mut in_dependencies = false;
    let mut found = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
        } else if in_dependencies && line.starts_with("medgen-") {
            let name = line.split([' ', '=', '.']).next().unwrap();
            found.push(name.to_string());
        }
    }
    found
}

fn graph() -> BTreeMap<String, Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut graph = BTreeMap::new();
    let read = |path: &Path| std::fs::read_to_string(path).expect("manifest");
    graph.insert("medgen".to_string(), normal_medgen_dependencies(&read(&root.join("Cargo.toml"))));
    for entry in std::fs::read_dir(root.join("crates")).expect("crates folder") {
        let dir = entry.expect("entry").path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        graph.insert(name, normal_medgen_dependencies(&read(&dir.join("Cargo.toml"))));
    }
    graph
}

fn longest_chain(graph: &BTreeMap<String, Vec<String>>, from: &str) -> usize {
    1 + graph[from].iter().map(|d| longest_chain(graph, d)).max().unwrap_or(0)
}

#[test]
fn dependencies_point_down_the_layers() {
    let graph = graph();
    let layer: BTreeMap<&str, usize> = LAYERS.into_iter().collect();
    assert_eq!(graph.len(), LAYERS.len(), "a crate without a layer: {:?}", graph.keys());
    for (name, deps) in &graph {
        for dep in deps {
            assert!(
                layer[dep.as_str()] < layer[name.as_str()],
                "{name} (layer {}) depends on {dep} (layer {})",
                layer[name.as_str()],
                layer[dep.as_str()]
            );
        }
    }
    assert_eq!(graph["medgen-metrics"], ["medgen-core", "medgen-sdf"]);
    assert_eq!(graph["medgen-core"], Vec::<String>::new());
    assert!(longest_chain(&graph, "medgen") <= 5, "chain of {}", longest_chain(&graph, "medgen"));
    assert_eq!(graph["medgen"].len(), LAYERS.len() - 2, "the root re-exports every crate");
    assert!(graph.values().all(|deps| !deps.iter().any(|d| d == "medgen-testing")));
}
