//! Incidents on disk: one JSON document per incident in the storage's
//! `aux/incidents` sled tree, keyed by the id as a big-endian u64 so the
//! tree iterates oldest first.

use super::model::Incident;
use crate::storage::{Storage, StorageError};

pub struct IncidentStore {
    tree: sled::Tree,
}

impl IncidentStore {
    pub fn open(storage: &Storage) -> Result<Self, StorageError> {
        Ok(IncidentStore {
            tree: storage.aux_tree("incidents")?,
        })
    }

    /// Every stored incident; unreadable entries are logged and skipped.
    pub fn load_all(&self) -> Vec<Incident> {
        self.tree
            .iter()
            .filter_map(|entry| {
                let (key, value) = entry
                    .map_err(|e| tracing::error!("reading incidents: {e}"))
                    .ok()?;
                serde_json::from_slice(&value)
                    .map_err(|e| tracing::error!(key = ?key, "skipping unreadable incident: {e}"))
                    .ok()
            })
            .collect()
    }

    pub fn save(&self, id: u64, incident: &Incident) {
        let result = serde_json::to_vec(incident)
            .map_err(|e| e.to_string())
            .and_then(|json| {
                self.tree
                    .insert(id.to_be_bytes(), json)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            tracing::error!(id, "cannot persist incident: {e}");
        }
    }

    pub fn delete(&self, id: u64) {
        if let Err(e) = self.tree.remove(id.to_be_bytes()) {
            tracing::error!(id, "cannot delete incident: {e}");
        }
    }
}
