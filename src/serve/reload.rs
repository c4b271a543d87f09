//! The served model and its replacement. The model in service is an `Arc` behind a lock held
//! only long enough to clone it: a request takes the model once and scores with it to the end,
//! so a reload that swaps in a new model never changes the numbers of a request in flight, and
//! a model that fails to load leaves the old one serving.

use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::model::predictor::Predictor;
use crate::model::{LoadedModel, ModelFile};

/// A model as loaded from its file, with what identifies it.
#[derive(Debug)]
pub struct Loaded {
    /// The model.
    pub model: ModelFile,
    /// What predicts with it, built once per load (a tree ensemble's layout for scoring).
    pub predictor: Predictor,
    /// SHA-256 (hex) of the model file's bytes, as they were decoded.
    pub sha256: String,
    /// When it was loaded, in seconds since the Unix epoch.
    pub loaded_at: f64,
    /// The file's modification time and length when it was read, to notice a changed file.
    pub stamp: Option<(SystemTime, u64)>,
}

impl Loaded {
    /// Reads and checks the model file at `path` (a file, a pipe or an object URL), with the
    /// SHA-256 of exactly the bytes that were decoded.
    pub fn read(path: &str) -> Result<Loaded> {
        let stamp = file_stamp(path);
        let LoadedModel { model, sha256, .. } = ModelFile::load(path)?;
        let loaded_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Ok(Loaded {
            predictor: Predictor::new(&model),
            model,
            sha256,
            loaded_at,
            stamp,
        })
    }
}

/// The modification time and length of the file at `path`, if it can be seen.
pub fn file_stamp(path: &str) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The model in service, swapped whole by a reload.
#[derive(Debug)]
pub struct Slot {
    current: RwLock<Arc<Loaded>>,
}

impl Slot {
    /// A slot serving `loaded`.
    pub fn new(loaded: Loaded) -> Slot {
        Slot {
            current: RwLock::new(Arc::new(loaded)),
        }
    }

    /// The model in service now; it stays valid for the caller whatever reloads happen.
    pub fn get(&self) -> Arc<Loaded> {
        // A poisoned lock only means a panic while swapping two Arcs: the value is whole.
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts `loaded` in service; requests that already took the old model finish with it.
    pub fn swap(&self, loaded: Loaded) {
        let new = Arc::new(loaded);
        match self.current.write() {
            Ok(mut guard) => *guard = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}
