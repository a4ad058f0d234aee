//! Whole-database copies, for `herald backup` and `herald restore`: every tree's name and
//! entries read out, and a new database built from such entries and moved into place only
//! when complete.

use std::collections::HashMap;
use std::path::Path;

use super::lock::{DB_DIR, create_private_dir, sled_config, wait_until_closed};
use super::{Result, Store, StoreError};

/// Where `Store::build` writes a database before it moves it into place.
pub(super) const DB_BUILDING: &str = "herald.sled.restoring";
/// Entries written to a database being built in one batch.
const BUILD_BATCH: usize = 1000;

impl Store {
    /// The name of every tree in the database (sled's default tree included), sorted: all
    /// of them, also trees a later Herald added, so a copy never leaves one out.
    pub fn tree_names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .t()?
            .db
            .tree_names()
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Calls `each(tree, key, value)` for every entry of every tree in [`Store::tree_names`],
    /// tree by tree in key order, until `each` fails. Nothing else may write meanwhile for
    /// the copy to be consistent: the caller holds the database (no bot runs).
    pub fn for_each_entry<E: From<StoreError>>(
        &self,
        mut each: impl FnMut(&str, &[u8], &[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let t = self.t()?;
        for name in self.tree_names()? {
            let tree = t.db.open_tree(name.as_bytes()).map_err(StoreError::from)?;
            for entry in tree.iter() {
                let (key, value) = entry.map_err(StoreError::from)?;
                each(&name, &key, &value)?;
            }
        }
        Ok(())
    }

    /// Builds a new database in `dir`, which must not hold one, from the entries `fill`
    /// gives to its [`Builder`]. The database is written beside the final place, flushed
    /// and moved there only when `fill` succeeded, so a failed build leaves `dir` without a
    /// database (as it was), never with half of one.
    pub fn build<E: From<StoreError>>(
        dir: &Path,
        fill: impl FnOnce(&mut Builder) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        create_private_dir(dir)
            .map_err(|source| StoreError::DataDir {
                dir: dir.to_path_buf(),
                source,
            })
            .map_err(E::from)?;
        let building = dir.join(DB_BUILDING);
        // A build interrupted before (a crash) left only this folder: start it again.
        if building.exists() {
            std::fs::remove_dir_all(&building).map_err(|e| StoreError::from(sled::Error::Io(e)))?;
        }
        let result = (|| {
            let db = sled_config(&building).open().map_err(StoreError::from)?;
            let mut builder = Builder {
                db,
                trees: HashMap::new(),
                pending: HashMap::new(),
                queued: 0,
            };
            fill(&mut builder)?;
            builder.write_pending()?;
            builder.db.flush().map_err(StoreError::from)?;
            drop(builder);
            wait_until_closed(&building);
            std::fs::rename(&building, dir.join(DB_DIR))
                .map_err(|e| StoreError::from(sled::Error::Io(e)))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&building);
        }
        result
    }
}

/// A database under construction (see [`Store::build`]).
pub struct Builder {
    db: sled::Db,
    trees: HashMap<String, sled::Tree>,
    pending: HashMap<String, sled::Batch>,
    queued: usize,
}

impl Builder {
    /// Makes sure the tree exists, also when it stays empty.
    pub fn tree(&mut self, name: &str) -> Result<()> {
        if !self.trees.contains_key(name) {
            let tree = self.db.open_tree(name.as_bytes())?;
            self.trees.insert(name.to_string(), tree);
        }
        Ok(())
    }

    /// Sets `key` to `value` in the tree `name`.
    pub fn insert(&mut self, name: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.tree(name)?;
        self.pending
            .entry(name.to_string())
            .or_default()
            .insert(key, value);
        self.queued += 1;
        if self.queued >= BUILD_BATCH {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<()> {
        for (name, batch) in self.pending.drain() {
            self.trees[&name].apply_batch(batch)?;
        }
        self.queued = 0;
        Ok(())
    }
}
