//! Ctrl-C, SIGTERM and SIGHUP during a batch (on Unix).
//!
//! Killing the process outright could leave a half-written temporary file beside the outputs.
//! Instead, the first signal asks the batch to stop: it does so after the current tile, the file
//! in progress gets no output, and the files already written stay (each is whole: written to a
//! temporary file, then renamed). A second signal is for someone who will not wait: it removes
//! the temporary file being written, if there is one, and exits at once. Either way the exit code
//! is [`EXIT_INTERRUPTED`] and no partial file is left. The atomic write of each output lives
//! here too, because the second signal must know which temporary file is being written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use anyhow::{Context, Result};

/// 128 + SIGINT, as shells report a command stopped by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The temporary file being written, if any.
static WRITING: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Starts listening for the signals; call once, before the batch starts.
#[cfg(unix)]
pub fn install() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install the Ctrl-C handler")?;
    // The signal handler itself only records the signal; this thread does the work, where taking
    // a lock and printing are allowed.
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                on_signal();
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

/// Elsewhere (Windows), Ctrl-C ends the process at once; a temporary `.part` file being written
/// at that moment may remain.
#[cfg(not(unix))]
pub fn install() -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn on_signal() {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // Holding the lock, the main thread cannot rename the file in the meantime: what is
        // removed is exactly what was never finished.
        if let Some(temporary) = writing().take() {
            std::fs::remove_file(temporary).ok();
        }
        eprintln!("\nupres: interrupted again; stopped at once");
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    }
    eprintln!("\nupres: interrupted; stopping after the current tile (again to stop at once)");
}

/// Whether a signal has asked the batch to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Writes `bytes` to `path` through a temporary file beside it, renamed into place once complete
/// and flushed to disk: a reader never sees half a file, and neither a failure nor a signal
/// leaves one behind.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;

    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.part", std::process::id()));
    *writing() = Some(temporary.clone());
    // `create_new`: never write through a link someone left at the temporary name. A file of
    // that name can only be left over from a run that was killed outright.
    std::fs::remove_file(&temporary).ok();
    let written = std::fs::OpenOptions::new().write(true).create_new(true).open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let mut current = writing();
    let result = written.and_then(|()| std::fs::rename(&temporary, path));
    if result.is_err() {
        std::fs::remove_file(&temporary).ok();
    }
    *current = None;
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// The lock on the temporary file's name. A panic elsewhere cannot leave the name wrong, so a
/// poisoned lock is as good as any.
fn writing() -> MutexGuard<'static, Option<PathBuf>> {
    WRITING.lock().unwrap_or_else(PoisonError::into_inner)
}
