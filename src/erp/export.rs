//! "Esporta PDF": open a list view, press its export button as a user would, and receive the
//! PDF the ERP sends as an attachment — directly or after an "export in preparazione" page.
//!
//! The download is captured with Chromium's own download machinery (`Browser.setDownloadBehavior`
//! into a private temporary folder, `downloadWillBegin`/`downloadProgress` events), so it works
//! however the ERP's script delivers the file (form POST, redirect, script navigation). Returns
//! bytes; never parses them.

use super::browser_ops;
use super::{ErpError, ErpTab};
use chromiumoxide::cdp::browser_protocol::browser::{
    DownloadProgressState, EventDownloadProgress, EventDownloadWillBegin,
    SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
};
use chromiumoxide::cdp::browser_protocol::page::EventLoadEventFired;
use futures::StreamExt;
use std::path::PathBuf;
use tokio::time::Instant;

/// The button label ERP.md names; matched case-insensitively on text, value, title or aria-label.
const EXPORT_LABEL: &str = "Esporta PDF";
const CLICKABLE: &str = "button, input[type=button], input[type=submit], a, [role=button]";

impl ErpTab {
    /// Download the PDF export of the list view at `path` (`/clienti`...: ERP.md, "Pages").
    /// A tab kept since the last export of this list presses the button of the view it still
    /// shows, as a user at their desk would; when that fails the way a stale page fails (the
    /// session expired, an HTTP error, no button, no PDF) the view is loaded again (logging in
    /// if the ERP asks) and the button pressed once more. The whole operation is bounded by the
    /// configured export timeout; dropping the future abandons it (the tab closes with the
    /// `ErpTab`).
    pub async fn export_pdf(&self, path: &str) -> Result<Vec<u8>, ErpError> {
        if self.is_showing(path) {
            match self.export_shown(path).await {
                Err(
                    e @ (ErpError::SessionExpired { .. }
                    | ErpError::Http { .. }
                    | ErpError::Layout { .. }
                    | ErpError::PageChanged { .. }
                    | ErpError::NotAPdf { .. }),
                ) => {
                    tracing::debug!(path, cause = %e, "export: the view kept open failed; loading it again");
                }
                done => return done,
            }
        }
        let started = Instant::now();
        self.visit(path).await?;
        tracing::debug!(
            path,
            ms = started.elapsed().as_millis() as u64,
            "export: list view shown"
        );
        self.export_shown(path).await
    }

    /// Press "Esporta PDF" on the list view the tab shows and receive the file.
    async fn export_shown(&self, path: &str) -> Result<Vec<u8>, ErpError> {
        let doing = format!("exporting {path}");
        let started = Instant::now();
        let ms = || started.elapsed().as_millis() as u64;
        let found = browser_ops::point_of_label(
            &self.page,
            CLICKABLE,
            EXPORT_LABEL,
            self.wait_ms(),
            &doing,
        )
        .await?;
        let Some(button) = found else {
            return Err(self
                .page_changed(format!("\"{EXPORT_LABEL}\" button on the list view {path}"))
                .await);
        };

        let dir = tempfile::Builder::new()
            .prefix("blackant-export-")
            .tempdir()
            .map_err(|source| ErpError::Download {
                path: std::env::temp_dir().display().to_string(),
                source,
            })?;
        let behavior = SetDownloadBehaviorParams::builder()
            .behavior(SetDownloadBehaviorBehavior::AllowAndName)
            .browser_context_id(self.context.clone())
            .download_path(dir.path().display().to_string())
            .events_enabled(true)
            .build()
            .map_err(|what| ErpError::Layout {
                url: self.config.url(path),
                what,
            })?;
        self.browser
            .browser()
            .execute(behavior)
            .await
            .map_err(ErpError::browser(doing.as_str()))?;
        let mut began = self
            .browser
            .browser()
            .event_listener::<EventDownloadWillBegin>()
            .await
            .map_err(ErpError::browser(doing.as_str()))?;
        let mut progress = self
            .browser
            .browser()
            .event_listener::<EventDownloadProgress>()
            .await
            .map_err(ErpError::browser(doing.as_str()))?;
        let mut loads = self
            .page
            .event_listener::<EventLoadEventFired>()
            .await
            .map_err(ErpError::browser(doing.as_str()))?;

        browser_ops::press(&self.page, button, &doing).await?;
        tracing::debug!(path, ms = ms(), "export: button clicked");

        let timeout = self.config.export_timeout;
        let deadline = Instant::now() + timeout;
        let mut guid: Option<String> = None;
        let file: PathBuf = loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(ErpError::Timeout { doing, after: timeout });
                }
                Some(ev) = began.next() => {
                    tracing::debug!(path, ms = ms(), "export: download began");
                    guid.get_or_insert_with(|| ev.guid.clone());
                }
                Some(ev) = progress.next() => {
                    if guid.as_ref().is_some_and(|g| *g != ev.guid) {
                        continue;
                    }
                    match ev.state {
                        DownloadProgressState::Completed => {
                            break ev.file_path.clone().map(PathBuf::from).unwrap_or_else(|| dir.path().join(&ev.guid));
                        }
                        DownloadProgressState::Canceled => {
                            return Err(ErpError::NotAPdf { list: path.into(), detail: "the browser cancelled the download".into() });
                        }
                        DownloadProgressState::InProgress => {}
                    }
                }
                Some(_) = loads.next() => {
                    // The click led to a page instead of (or before) the file: a "preparing"
                    // page is fine, a login page or an HTTP error is not.
                    self.set_showing(None);
                    let landing = browser_ops::landing(&self.page).await?;
                    if landing.is_login() {
                        return Err(ErpError::SessionExpired { doing });
                    }
                    if landing.status >= 400 {
                        return Err(ErpError::Http { status: landing.status, url: landing.url });
                    }
                }
            }
        };
        let bytes = tokio::fs::read(&file)
            .await
            .map_err(|source| ErpError::Download {
                path: file.display().to_string(),
                source,
            })?;
        tracing::debug!(path, ms = ms(), bytes = bytes.len(), "export: file read");
        if !looks_like_pdf(&bytes) {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
            return Err(ErpError::NotAPdf {
                list: path.into(),
                detail: format!("{} bytes starting {head:?}", bytes.len()),
            });
        }
        Ok(bytes)
    }
}

/// The PDF header must appear within the first 1024 bytes (ISO 32000 tolerates leading junk).
fn looks_like_pdf(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
}

#[cfg(test)]
mod tests {
    use super::looks_like_pdf;

    #[test]
    fn pdf_header_is_found_within_the_first_kilobyte_only() {
        assert!(looks_like_pdf(b"%PDF-1.7\n..."));
        assert!(looks_like_pdf(b"\xef\xbb\xbf%PDF-1.4"));
        assert!(!looks_like_pdf(b"<html>Errore</html>"));
        let mut late = vec![b' '; 2000];
        late.extend_from_slice(b"%PDF-1.4");
        assert!(!looks_like_pdf(&late));
    }
}
