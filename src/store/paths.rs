//! Names of the files in the data folder. Owns the rule that an agent id becomes part of a
//! file name only after validation (no path traversal through an RPC's `user` field).

use super::StoreError;
use crate::kinds::DataFile;
use std::path::{Path, PathBuf};

/// The data folder (`data/` by default).
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `customers-{user}.db`; the id must be a plain token.
    pub fn customers_db(&self, user: &str) -> Result<PathBuf, StoreError> {
        self.data_file(DataFile::AgentCustomers, Some(user))
    }

    /// The path of a data file; a per-agent file needs a valid agent id, the others ignore it.
    pub fn data_file(&self, file: DataFile, agent: Option<&str>) -> Result<PathBuf, StoreError> {
        let agent = if file.per_agent() {
            let agent = agent.unwrap_or_default();
            validate_user(agent)?;
            Some(agent)
        } else {
            None
        };
        Ok(self.root.join(file.file_name(agent)))
    }

    pub fn products_db(&self) -> PathBuf {
        self.root.join("products.db")
    }

    pub fn orders_db(&self) -> PathBuf {
        self.root.join("orders.db")
    }

    pub fn sync_db(&self) -> PathBuf {
        self.root.join("sync.db")
    }

    /// The record files the folder holds (`products.db`, `orders.db`, every
    /// `customers-{agent}.db`; not `sync.db`), each with its kind of file, sorted by name.
    pub fn record_files(&self) -> std::io::Result<Vec<(DataFile, PathBuf)>> {
        let mut files: Vec<(DataFile, PathBuf)> = std::fs::read_dir(&self.root)?
            .flatten()
            .filter_map(|e| {
                let file = DataFile::of_file_name(e.file_name().to_str()?)?;
                Some((file, e.path()))
            })
            .collect();
        files.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(files)
    }

    /// Content-addressed exports being read by unfinished runs.
    pub fn exports_dir(&self) -> PathBuf {
        self.root.join("exports")
    }

    pub fn export_file(&self, md5_hex: &str) -> PathBuf {
        self.exports_dir().join(format!("{md5_hex}.pdf"))
    }

    /// The browsers' profile folders: the service owns it, so a starting service reaps any
    /// browser a previous life left running (its profile is here).
    pub fn browsers_dir(&self) -> PathBuf {
        self.root.join("browsers")
    }

    /// Downloaded product images, content-addressed.
    pub fn images_dir(&self) -> PathBuf {
        self.root.join("images")
    }

    /// What the ERP showed when a page had changed: `evidence/{id}/`, bounded, operator-only.
    pub fn evidence_dir(&self) -> PathBuf {
        self.root.join("evidence")
    }
}

/// Agent ids become file names: letters, digits, `.`, `_`, `-`; not starting with `.`.
pub fn validate_user(user: &str) -> Result<(), StoreError> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && !user.starts_with('.')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidUser(user.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_that_could_escape_the_folder_are_refused() {
        let d = DataDir::new("/data");
        assert_eq!(
            d.customers_db("agent1").unwrap(),
            PathBuf::from("/data/customers-agent1.db")
        );
        for bad in ["", "../x", "a/b", ".hidden", "a b", "agènt"] {
            assert!(d.customers_db(bad).is_err(), "{bad:?} accepted");
        }
    }
}
