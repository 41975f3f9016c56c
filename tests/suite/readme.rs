//! README's layout table is the map a newcomer reads first: it names every module of `src/`, so
//! that a module cannot be added without a line there saying what it is for.

use std::path::Path;

#[test]
fn the_readme_layout_names_every_module_of_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md is readable");
    let layout = readme.split("\n## Layout\n").nth(1).and_then(|rest| rest.split("\n## ").next());
    let layout = layout.expect("README.md has a \"## Layout\" section");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("src")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if entry.path().is_dir() { format!("src/{name}/") } else { format!("src/{name}") };
        if !layout.contains(&format!("`{path}`")) {
            missing.push(path);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "README's layout table (\"## Layout\") does not name {}: add each, in a few words on what it is for",
        missing.join(", ")
    );
}
