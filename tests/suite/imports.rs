//! No import cycle among the modules of `src/`: the pipeline stays layered, so a leaf (the
//! profiler, the route, the codec) can be read, tested and reused without what sits above it,
//! and a change to one layer cannot loop back into itself.
//!
//! Each top-level module is a node (`src/cli` and `src/train` one each, everything under them
//! included); an edge is a `crate::…` path in its code (or, in the command line's binary,
//! `upres::…`), in a `use` or inline, `use crate::{a, b::c}` groups included, and names the
//! crate root re-exports (`crate::Error`) count as the module they come from. Lines that are
//! comments are skipped: a doc link is not an import.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Each module and the modules it imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn the_modules_of_src_import_one_another_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        // The crate roots declare the modules; they are no layer of their own.
        if name == "lib" || name == "main" {
            continue;
        }
        let mut text = String::new();
        read_rust(&path, &mut text);
        sources.push((name, text));
    }
    let sources: Vec<(&str, &str)> = sources.iter().map(|(name, text)| (name.as_str(), text.as_str())).collect();
    assert!(sources.len() > 10, "the modules of {} were not found", src.display());
    let graph = graph(&sources, &lib);
    assert!(graph["upscale"].contains("route"), "the check sees imports: {graph:?}");

    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "import cycles among the modules of src/ (a module may import only modules below it: move what \
         the lower one needs down, or the code that needs the upper one up to its callers):\n{}",
        cycles.iter().map(|cycle| cycle.join(" → ")).collect::<Vec<_>>().join("\n")
    );
}

/// The check itself, on made-up sources: groups, paths inside code and re-exported names are
/// edges, comments are not, and a cycle is named module by module.
#[test]
fn the_import_check_names_a_cycle_it_finds() {
    let lib = "pub mod upscale;\npub use error::{Error, Result};\n";
    let sources = [
        ("upscale", "use crate::{codec, profile::{self, Profiler}};\nfn f() { crate::plan::Plan::new(); }\n"),
        (
            "profile",
            "//! Times [`crate::codec`] stages.\nuse crate::Error;\nasync fn run(u: &crate::upscale::Upscaler) {}\n",
        ),
        ("codec", "use crate::{\n    limits::Limits,\n    Result,\n};\nmacro_rules! m { () => { $crate::plan::X } }\n"),
        ("plan", "use crate::limits;\n"),
        ("limits", "use upres::error::Error;\n"),
        ("error", "// use crate::codec;\n"),
    ];
    let graph = graph(&sources, lib);
    let imports = |module: &str| graph[module].iter().map(String::as_str).collect::<Vec<_>>();
    assert_eq!(imports("upscale"), ["codec", "plan", "profile"]);
    assert_eq!(imports("profile"), ["error", "upscale"]);
    assert_eq!(imports("codec"), ["error", "limits"]);
    assert_eq!(imports("limits"), ["error"]);
    assert!(imports("error").is_empty());
    assert_eq!(cycles(&graph).into_iter().collect::<Vec<_>>(), [["profile", "upscale", "profile"]]);
}

/// Appends the text of `path`, or of every `.rs` file below it.
fn read_rust(path: &Path, text: &mut String) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path).unwrap().map(|entry| entry.unwrap().path()).collect();
        entries.sort();
        for entry in entries {
            read_rust(&entry, text);
        }
    } else if path.extension().is_some_and(|ext| ext == "rs") {
        text.push_str(&std::fs::read_to_string(path).unwrap());
        text.push('\n');
    }
}

/// The import graph of `(module, source)` pairs, with `lib` (the crate root) saying which module
/// each name it re-exports comes from.
fn graph(sources: &[(&str, &str)], lib: &str) -> Graph {
    let modules: BTreeSet<&str> = sources.iter().map(|&(name, _)| name).collect();
    let mut reexported = BTreeMap::new();
    for statement in code(lib).split(';').filter_map(|s| s.trim().strip_prefix("pub use ")) {
        let module = ident(statement);
        for name in statement[module.len()..].split(|c: char| !is_ident(c)).filter(|n| !n.is_empty()) {
            reexported.insert(name.to_string(), module.to_string());
        }
    }
    // A module by its name, or the one a name re-exported at the root comes from.
    let module_of =
        |name: String| if modules.contains(name.as_str()) { Some(name) } else { reexported.get(&name).cloned() };
    sources
        .iter()
        .map(|&(module, source)| {
            let imports =
                paths(&code(source)).into_iter().filter_map(module_of).filter(|name| name != module).collect();
            (module.to_string(), imports)
        })
        .collect()
}

/// `source` without its comment lines.
fn code(source: &str) -> String {
    source.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The first segment of every path from the crate root: `crate::a::b` gives `a`,
/// `crate::{a, b::{c, d}}` gives `a` and `b`.
fn paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for root in ["crate::", "upres::"] {
        for (at, _) in code.match_indices(root) {
            // Not `$crate::` (a macro's), not `my_crate::`, not `x::crate::`.
            if code[..at].chars().next_back().is_some_and(|c| is_ident(c) || c == '$' || c == ':') {
                continue;
            }
            let rest = &code[at + root.len()..];
            let Some(group) = rest.strip_prefix('{') else {
                found.insert(ident(rest).to_string());
                continue;
            };
            // Each item of the group at its own level begins a path.
            let (mut depth, mut item_starts) = (0, true);
            for (index, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_starts = true,
                    c if item_starts && is_ident(c) => {
                        found.insert(ident(&group[index..]).to_string());
                        item_starts = false;
                    }
                    _ => {}
                }
            }
        }
    }
    found
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifier `text` starts with.
fn ident(text: &str) -> &str {
    let text = text.trim_start();
    &text[..text.find(|c: char| !is_ident(c)).unwrap_or(text.len())]
}

/// The shortest cycle through each module that is on one, each written from its first module
/// in alphabetical order back to it, each once.
fn cycles(graph: &Graph) -> BTreeSet<Vec<String>> {
    let mut cycles = BTreeSet::new();
    for start in graph.keys() {
        // Breadth first from `start`, until an import leads back to it.
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start.as_str()]);
        'search: while let Some(module) = queue.pop_front() {
            for next in graph.get(module).into_iter().flatten() {
                if next == start {
                    let mut cycle = vec![module];
                    while let Some(&before) = came_from.get(cycle[cycle.len() - 1]) {
                        cycle.push(before);
                    }
                    cycle.reverse();
                    let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                    cycle.rotate_left(first);
                    cycle.push(cycle[0]);
                    cycles.insert(cycle.into_iter().map(String::from).collect());
                    break 'search;
                }
                if !came_from.contains_key(next.as_str()) {
                    came_from.insert(next, module);
                    queue.push_back(next);
                }
            }
        }
    }
    cycles
}
