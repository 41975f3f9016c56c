//! The work list: one item per input file, in an order that every process given the same command
//! line and the same files agrees on, because shards divide it without talking to each other.
//!
//! Files named on the command line come in their order and keep the flat output folder. A folder
//! is walked here: its files, sorted by their path inside it, mirror that path in the output.
//! Hidden files and folders (a name starting with a dot) are left out, as is the output folder
//! when it lies inside. A symbolic link is followed while it points inside the folder walked;
//! one that points outside, nowhere, or back up to a folder it is in (a loop) becomes an item
//! already settled as skipped, so that the report still says what became of it. A `--from`
//! list is read here too: its paths mirror their place below `--root`, sorted. Nothing is
//! decoded here, and only files whose outputs would share a name are opened at all.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::report::Verdict;

/// How an input came to be on the list; files found, rather than named, may turn out not to be
/// images, and are skipped then rather than failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Named on the command line: must be an image; its output goes straight into the folder.
    Named,
    /// Found in a folder, or listed with `--from`: its output mirrors `place`.
    Found,
}

#[derive(Clone, Debug)]
pub struct Item {
    /// The path to read, as the user gave it (or the folder walked, joined with the path inside).
    pub input: PathBuf,
    /// Where it goes, relative to the output folder: the output is named after it, in its folder.
    pub place: PathBuf,
    pub origin: Origin,
    /// Decided while listing: a link not followed, an output name taken by an earlier item.
    pub settled: Option<Verdict>,
}

impl Item {
    fn found(input: PathBuf, place: PathBuf) -> Self {
        Self { input, place, origin: Origin::Found, settled: None }
    }

    fn settled(input: PathBuf, place: PathBuf, verdict: Verdict) -> Self {
        Self { input, place, origin: Origin::Found, settled: Some(verdict) }
    }
}

/// The whole list, before any shard takes its part.
pub struct WorkList {
    pub items: Vec<Item>,
    /// A folder or a `--from` list was given: the run is one that may be resumed.
    pub batch: bool,
}

/// Builds the list from the command line's inputs (files and folders, in order), then the
/// `--from` list. `output` must exist.
pub fn build(inputs: &[PathBuf], from: Option<&Path>, root: Option<&Path>, output: &Path) -> Result<WorkList> {
    let output_real =
        output.canonicalize().with_context(|| format!("cannot open the output folder {}", output.display()))?;
    let mut items = Vec::new();
    let mut batch = false;
    for input in inputs {
        if input.is_dir() {
            batch = true;
            items.extend(walk(input, &output_real)?);
        } else {
            let place = PathBuf::from(input.file_name().unwrap_or(input.as_os_str()));
            items.push(Item { input: input.clone(), place, origin: Origin::Named, settled: None });
        }
    }
    if let Some(from) = from {
        batch = true;
        items.extend(listed(from, root.unwrap_or(Path::new(".")))?);
    }
    // The same file twice (named twice, listed twice) is one item.
    let mut seen = HashSet::new();
    items.retain(|item| seen.insert((item.input.clone(), item.place.clone())));
    Ok(WorkList { items, batch })
}

/// Every file in `root`, sorted by its place inside.
fn walk(root: &Path, output_real: &Path) -> Result<Vec<Item>> {
    let root_real = root.canonicalize().with_context(|| format!("cannot open the folder {}", root.display()))?;
    if root_real == output_real {
        bail!(
            "{} is both the folder to upscale and the output folder: a later run would take the outputs for \
             inputs; write them to another folder (inside it is fine)",
            root.display()
        );
    }
    let mut walk = Walk { root_real: root_real.clone(), output_real, items: Vec::new() };
    walk.folder(root, Path::new(""), &mut vec![root_real]);
    let mut items = walk.items;
    items.sort_by(|a, b| a.place.cmp(&b.place));
    Ok(items)
}

struct Walk<'a> {
    root_real: PathBuf,
    output_real: &'a Path,
    items: Vec<Item>,
}

impl Walk<'_> {
    /// Walks `dir` (found at `place` inside the root), whose real path is the last of `ancestors`,
    /// the real paths of the folders it is in.
    fn folder(&mut self, dir: &Path, place: &Path, ancestors: &mut Vec<PathBuf>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                let message = format!("cannot read the folder: {error}");
                self.items.push(Item::settled(dir.to_owned(), place.to_owned(), Verdict::failed("io", message)));
                return;
            }
        };
        let real = ancestors.last().cloned().unwrap_or_default();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    let message = format!("cannot read the folder: {error}");
                    self.items.push(Item::settled(dir.to_owned(), place.to_owned(), Verdict::failed("io", message)));
                    return;
                }
            };
            let name = entry.file_name();
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let (path, place) = (entry.path(), place.join(&name));
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => {
                    let real = real.join(&name);
                    if real != self.output_real {
                        ancestors.push(real);
                        self.folder(&path, &place, ancestors);
                        ancestors.pop();
                    }
                }
                Ok(kind) if kind.is_file() => self.items.push(Item::found(path, place)),
                Ok(kind) if kind.is_symlink() => self.link(path, place, ancestors),
                Ok(_) => self.items.push(Item::settled(path, place, Verdict::Skipped("not-a-file"))),
                Err(error) => {
                    let message = format!("cannot read the folder entry: {error}");
                    self.items.push(Item::settled(path, place, Verdict::failed("io", message)));
                }
            }
        }
    }

    fn link(&mut self, path: PathBuf, place: PathBuf, ancestors: &mut Vec<PathBuf>) {
        let Ok(target) = path.canonicalize() else {
            self.items.push(Item::settled(path, place, Verdict::Skipped("broken-link")));
            return;
        };
        if !target.starts_with(&self.root_real) {
            self.items.push(Item::settled(path, place, Verdict::Skipped("link-outside")));
        } else if target.starts_with(self.output_real) {
            // The output folder is not part of the input, whichever way it is reached.
        } else if !target.is_dir() {
            self.items.push(Item::found(path, place));
        } else if ancestors.contains(&target) {
            self.items.push(Item::settled(path, place, Verdict::Skipped("link-loop")));
        } else {
            ancestors.push(target);
            self.folder(&path, &place, ancestors);
            ancestors.pop();
        }
    }
}

/// The paths in a `--from` list (`-`: standard input), one a line, or separated by NUL bytes as
/// `find -print0` writes them; each mirrors its place below `root`, and the list is sorted by it.
fn listed(from: &Path, root: &Path) -> Result<Vec<Item>> {
    let mut text = Vec::new();
    if from == Path::new("-") {
        std::io::stdin().read_to_end(&mut text).context("cannot read the list of files from standard input")?;
    } else {
        text = std::fs::read(from).with_context(|| format!("cannot read the list of files {}", from.display()))?;
    }
    let separator = if text.contains(&0) { b'\0' } else { b'\n' };
    let root = lexical_absolute(root)?;
    let mut items = Vec::new();
    for line in text.split(|&byte| byte == separator) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let input = path_from_bytes(line);
        let absolute = lexical_absolute(&input)?;
        match absolute.strip_prefix(&root) {
            Ok(place) if !place.as_os_str().is_empty() => {
                let place = place.to_owned();
                items.push(Item::found(input, place));
            }
            _ => {
                let message = format!(
                    "not inside {} (--root): its output would have no place in the mirrored tree",
                    root.display()
                );
                let place = PathBuf::from(input.file_name().unwrap_or(input.as_os_str()));
                items.push(Item::settled(input, place, Verdict::failed("outside-root", message)));
            }
        }
    }
    items.sort_by(|a, b| a.place.cmp(&b.place).then_with(|| a.input.cmp(&b.input)));
    Ok(items)
}

#[cfg(unix)]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// `path` from the root of the file system, with `.` and `..` taken away by name: a listed path
/// and the root are compared as written, without following links.
fn lexical_absolute(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))?;
    let mut clean = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    Ok(clean)
}

/// Fails every item whose output would have the same name as an earlier item's: two `photo.jpg`
/// named from different folders, or `logo.png` and `logo.tif` both made PNGs. The first in list
/// order keeps the name. `extension` gives an item's output extension, or `None` for a file
/// that is not an image (it will not be written); it is asked only about items whose names clash.
pub fn mark_collisions(items: &mut [Item], extension: impl Fn(&Item) -> Option<&'static str>) {
    let mut by_name: HashMap<(PathBuf, OsString), Vec<usize>> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        if item.settled.is_none() {
            let folder = item.place.parent().unwrap_or(Path::new("")).to_owned();
            let stem = item.place.file_stem().unwrap_or_default().to_owned();
            by_name.entry((folder, stem)).or_default().push(index);
        }
    }
    let mut clashes: Vec<Vec<usize>> = by_name.into_values().filter(|indices| indices.len() > 1).collect();
    clashes.sort();
    for indices in clashes {
        let mut first: HashMap<&'static str, usize> = HashMap::new();
        for index in indices {
            let Some(extension) = extension(&items[index]) else { continue };
            match first.get(extension) {
                None => {
                    first.insert(extension, index);
                }
                Some(&earlier) => {
                    let message =
                        format!("its output would have the same name as that of {}", items[earlier].input.display());
                    items[index].settled = Some(Verdict::failed("collision", message));
                }
            }
        }
    }
}
