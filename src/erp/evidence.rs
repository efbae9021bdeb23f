//! Evidence of ERP pages that did not hold what a step looked for (ERP.md, "When Archibald
//! changes without notice"): the page's HTML, a screenshot and what was looked for, where and
//! when, kept under `<data>/evidence/{id}/` for the operator — the newest [`EvidenceBounds`]
//! snapshots, the oldest removed as new ones come.
//!
//! Owns the folder's layout and its bound. What it captures is what the browser shows: the
//! document's markup (typed field values are not part of it, so a password typed into a form
//! never is) and the viewport scrolled to the whole page. It must NOT decide when a page is
//! wrong (the ERP steps do) nor serve the files (the HTTP port does, to operators).

use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::page::ScreenshotParams;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How much evidence is kept: at most `max_files` snapshots and `max_bytes` in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvidenceBounds {
    pub max_files: usize,
    pub max_bytes: u64,
}

impl Default for EvidenceBounds {
    /// The newest 200 snapshots, within 500 MB.
    fn default() -> Self {
        EvidenceBounds {
            max_files: 200,
            max_bytes: 500 << 20,
        }
    }
}

/// What a snapshot says of itself (`meta.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceMeta {
    pub id: String,
    /// When it was taken (RFC 3339, UTC).
    pub at: String,
    /// What the step looked for and did not find.
    pub looked_for: String,
    /// The page's address and title when it was taken.
    pub url: String,
    pub title: String,
    /// Bytes of the page's HTML and of its screenshot (0: could not be taken).
    pub html_bytes: u64,
    pub screenshot_bytes: u64,
}

/// The file names of a snapshot.
pub const HTML_FILE: &str = "page.html";
pub const SCREENSHOT_FILE: &str = "screenshot.png";
pub const META_FILE: &str = "meta.json";

/// Longest wait for each part of a capture (a page that no longer answers gives less).
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(5);

/// The evidence folder of a data folder.
#[derive(Debug)]
pub struct EvidenceStore {
    dir: PathBuf,
    bounds: EvidenceBounds,
    seq: AtomicU64,
}

/// Whether `id` names a snapshot (what [`EvidenceStore::keep`] makes: digits, letters, `-`),
/// so that no id from a request can reach outside the folder.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl EvidenceStore {
    pub fn new(dir: impl Into<PathBuf>, bounds: EvidenceBounds) -> EvidenceStore {
        EvidenceStore {
            dir: dir.into(),
            bounds,
            seq: AtomicU64::new(0),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keep what `page` shows now as the evidence that `looked_for` was not on it; its id, or
    /// `None` when nothing could be written (the failure it documents is reported anyway).
    pub async fn keep(
        &self,
        page: &Page,
        looked_for: &str,
        url: &str,
        title: &str,
    ) -> Option<String> {
        let html = match tokio::time::timeout(CAPTURE_TIMEOUT, page.content()).await {
            Ok(Ok(html)) => html,
            _ => String::new(),
        };
        let shot = ScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .full_page(true)
            .build();
        let png = match tokio::time::timeout(CAPTURE_TIMEOUT, page.screenshot(shot)).await {
            Ok(Ok(png)) => png,
            _ => Vec::new(),
        };
        self.write(looked_for, url, title, html.as_bytes(), &png)
            .await
            .map_err(|e| tracing::warn!(cause = %e, dir = %self.dir.display(), "cannot keep the evidence of a changed page"))
            .ok()
    }

    /// Write one snapshot and bring the folder back within its bounds; the new id.
    pub async fn write(
        &self,
        looked_for: &str,
        url: &str,
        title: &str,
        html: &[u8],
        png: &[u8],
    ) -> std::io::Result<String> {
        let now = chrono::Utc::now();
        // Time first, so that names sort in the order they were taken; the process and a
        // counter keep two of one second (and of two services' lives) apart.
        let id = format!(
            "{}-{:05}-{:04}",
            now.format("%Y%m%dT%H%M%S%.6fZ")
                .to_string()
                .replace('.', ""),
            std::process::id() % 100_000,
            self.seq.fetch_add(1, Ordering::Relaxed) % 10_000
        );
        let meta = EvidenceMeta {
            id: id.clone(),
            at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            looked_for: looked_for.to_string(),
            url: url.to_string(),
            title: title.to_string(),
            html_bytes: html.len() as u64,
            screenshot_bytes: png.len() as u64,
        };
        let folder = self.dir.join(&id);
        let part = self.dir.join(format!(".{id}.part"));
        tokio::fs::create_dir_all(&part).await?;
        tokio::fs::write(part.join(HTML_FILE), html).await?;
        tokio::fs::write(part.join(SCREENSHOT_FILE), png).await?;
        let json = serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other)?;
        tokio::fs::write(part.join(META_FILE), json).await?;
        // Whole or not at all: a reader never sees half a snapshot.
        tokio::fs::rename(&part, &folder).await?;
        let dir = self.dir.clone();
        let bounds = self.bounds;
        let _ = tokio::task::spawn_blocking(move || prune(&dir, bounds)).await;
        Ok(id)
    }

    /// The snapshot `id`'s description, if it is kept.
    pub fn meta(&self, id: &str) -> Option<EvidenceMeta> {
        if !valid_id(id) {
            return None;
        }
        let text = std::fs::read(self.dir.join(id).join(META_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The path of file `name` ([`HTML_FILE`], [`SCREENSHOT_FILE`]) of snapshot `id`, if kept.
    pub fn file(&self, id: &str, name: &str) -> Option<PathBuf> {
        if !valid_id(id) || ![HTML_FILE, SCREENSHOT_FILE, META_FILE].contains(&name) {
            return None;
        }
        let path = self.dir.join(id).join(name);
        path.is_file().then_some(path)
    }

    /// Every kept snapshot, newest first.
    pub fn list(&self) -> Vec<EvidenceMeta> {
        let mut ids = snapshot_dirs(&self.dir);
        ids.reverse();
        ids.into_iter()
            .filter_map(|(id, _)| self.meta(&id))
            .collect()
    }
}

/// The snapshot folders (oldest first) with their sizes; leftovers of a cut write (`.part`)
/// are removed on the way.
fn snapshot_dirs(dir: &Path) -> Vec<(String, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".part") {
            // Older than a moment: a write cut by a kill.
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(60));
            if old {
                let _ = std::fs::remove_dir_all(e.path());
            }
            continue;
        }
        if !valid_id(&name) || !e.path().is_dir() {
            continue;
        }
        let size = std::fs::read_dir(e.path())
            .map(|files| {
                files
                    .flatten()
                    .filter_map(|f| f.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        out.push((name, size));
    }
    out.sort();
    out
}

/// Remove the oldest snapshots until the newest fit `bounds` (the newest is always kept).
fn prune(dir: &Path, bounds: EvidenceBounds) {
    let snapshots = snapshot_dirs(dir);
    let mut kept_bytes = 0u64;
    let mut kept = 0usize;
    for (i, (id, size)) in snapshots.iter().enumerate().rev() {
        let newest = i + 1 == snapshots.len();
        if newest || (kept < bounds.max_files && kept_bytes + size <= bounds.max_bytes) {
            kept += 1;
            kept_bytes += size;
            continue;
        }
        if let Err(e) = std::fs::remove_dir_all(dir.join(id)) {
            tracing::warn!(cause = %e, id, "cannot remove old evidence");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn snapshots_are_whole_and_the_folder_keeps_the_newest_within_its_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let store = EvidenceStore::new(
            dir.path().join("evidence"),
            EvidenceBounds {
                max_files: 5,
                max_bytes: 10_000,
            },
        );
        let mut ids = Vec::new();
        for i in 0..12 {
            let html = format!("<html>{i}</html>");
            ids.push(
                store
                    .write(
                        "the \"Esporta PDF\" button",
                        "http://erp/clienti",
                        "Clienti",
                        html.as_bytes(),
                        b"png",
                    )
                    .await
                    .unwrap(),
            );
        }
        let listed: Vec<String> = store.list().into_iter().map(|m| m.id).collect();
        let newest: Vec<String> = ids.iter().rev().take(5).cloned().collect();
        assert_eq!(listed, newest, "the newest five, newest first");
        let meta = store.meta(&ids[11]).unwrap();
        assert_eq!(meta.looked_for, "the \"Esporta PDF\" button");
        assert_eq!(meta.url, "http://erp/clienti");
        assert_eq!(
            std::fs::read(store.file(&ids[11], HTML_FILE).unwrap()).unwrap(),
            b"<html>11</html>"
        );
        assert!(store.file(&ids[0], HTML_FILE).is_none(), "pruned");

        // The byte bound: big snapshots push out older ones, the newest always stays.
        let big = vec![b'x'; 4_000];
        for _ in 0..3 {
            store.write("x", "u", "t", &big, b"").await.unwrap();
        }
        let total: u64 = snapshot_dirs(store.dir()).iter().map(|(_, s)| s).sum();
        assert!(total <= 10_000, "{total} bytes kept");
        let huge = vec![b'x'; 20_000];
        let last = store.write("x", "u", "t", &huge, b"").await.unwrap();
        assert_eq!(store.list().len(), 1);
        assert_eq!(store.list()[0].id, last);
    }

    #[test]
    fn ids_that_could_leave_the_folder_are_refused() {
        let store = EvidenceStore::new("/tmp/e", EvidenceBounds::default());
        for bad in ["", "../sync.db", "a/b", "a.b", "..", &"x".repeat(65)] {
            assert!(!valid_id(bad), "{bad:?}");
            assert!(store.meta(bad).is_none());
        }
        assert!(
            store
                .file("20261207T101500000000Z-00001-0001", "../../sync.db")
                .is_none()
        );
    }
}
