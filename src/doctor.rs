//! `blackant doctor`: what an integrator runs first against a real Archibald. With one account
//! it logs in, opens every list view and exports its report, reads each report, opens one
//! order's detail page and the order form (looking for its fields and buttons, typing and
//! clicking nothing), and says, per page and report, what matches ERP.md and what does not:
//! unknown and missing columns, values the reader refuses, an incomplete export, something a
//! step looks for that is not on its page.
//!
//! Owns the list of checks and their outcome. It must NOT write anything: no data folder, no
//! replica, no evidence (a page that changed is described, not kept), and it never submits
//! the order form.

use crate::erp::{Credentials, ErpConfig, ErpError, ErpTab};
use crate::kinds::KINDS;
use crate::records::{self, Kind, order_lines};
use blackant_actors::browser_pool::{ChromiumConfig, ChromiumLauncher, Launcher};
use serde::Serialize;
use std::sync::Arc;

/// One thing looked at, and whether it is as ERP.md says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: `login`, `customers report`, `order detail`, `order form`...
    pub step: String,
    /// The page it was checked on (its path).
    pub page: String,
    pub ok: bool,
    /// What was found, or what is wrong, in words.
    pub detail: String,
    /// Report columns ERP.md does not list (a mismatch, though the service would read on).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_columns: Vec<String>,
}

/// Every check of one run of the doctor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    pub erp: String,
    pub user: String,
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// Everything matches ERP.md.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// Why the doctor could not look at all (as opposed to what it found wrong).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("cannot start Chromium: {0}")]
    Browser(String),
    #[error("cannot open a tab: {0}")]
    Tab(#[source] ErpError),
}

/// Look at the Archibald of `erp` as `credentials` see it.
pub async fn examine(
    erp: ErpConfig,
    credentials: Credentials,
    chromium: ChromiumConfig,
) -> Result<DoctorReport, DoctorError> {
    let launcher = ChromiumLauncher::new(chromium);
    let launched = launcher
        .launch()
        .await
        .map_err(|e| DoctorError::Browser(e.to_string()))?;
    let browser = Arc::new(launched.browser);
    let checks = match launcher.new_context(&browser, &credentials.username).await {
        Ok(context) => {
            match ErpTab::open(browser.clone(), context.id(), &erp, &credentials, None).await {
                Ok(tab) => Ok(run_checks(&tab).await),
                Err(e) => Err(DoctorError::Tab(e)),
            }
        }
        Err(e) => Err(DoctorError::Browser(e.to_string())),
    };
    launcher.close(browser).await;
    Ok(DoctorReport {
        erp: erp.base_url.clone(),
        user: credentials.username.clone(),
        checks: checks?,
    })
}

fn check(step: impl Into<String>, page: &str, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        step: step.into(),
        page: page.to_string(),
        ok,
        detail: detail.into(),
        unknown_columns: Vec::new(),
    }
}

async fn run_checks(tab: &ErpTab) -> Vec<Check> {
    let mut checks = Vec::new();
    // Logging in: the first list view asks for it.
    let first = KINDS[0].list_page;
    match tab.visit(first).await {
        Ok(_) => checks.push(check("login", "/login", true, "logged in")),
        Err(e) => {
            checks.push(check("login", "/login", false, e.to_string()));
            return checks;
        }
    }
    let mut an_order = None;
    for spec in &KINDS {
        let step = format!("{} report", spec.kind);
        let bytes = match tab.export_pdf(spec.list_page).await {
            Ok(b) => b,
            Err(e) => {
                checks.push(check(step, spec.list_page, false, e.to_string()));
                continue;
            }
        };
        match records::parse_export(spec.kind, &bytes) {
            Ok(parsed) => {
                if spec.kind == Kind::Orders {
                    an_order = parsed.records().next().map(|r| r.key());
                }
                let problems = parsed.completeness.problems();
                let mut detail = format!(
                    "{} records on {} pages",
                    parsed.record_count(),
                    parsed.pages.len()
                );
                if !problems.is_empty() {
                    detail.push_str(&format!("; incomplete: {}", problems.join("; ")));
                }
                if !parsed.unknown_columns.is_empty() {
                    detail.push_str(&format!(
                        "; columns ERP.md does not list (ignored by the service): {}",
                        parsed.unknown_columns.join(", ")
                    ));
                }
                checks.push(Check {
                    ok: problems.is_empty() && parsed.unknown_columns.is_empty(),
                    unknown_columns: parsed.unknown_columns,
                    ..check(step, spec.list_page, true, detail)
                });
            }
            Err(e) => checks.push(check(step, spec.list_page, false, e.to_string())),
        }
    }
    match an_order {
        Some(number) => checks.push(order_detail(tab, &number).await),
        None => checks.push(check(
            "order detail",
            "/ordini/{number}",
            false,
            "no order in the orders report to open",
        )),
    }
    match tab.check_order_form().await {
        Ok(found) => {
            for (what, there) in found {
                let detail = if there { "found" } else { "not on the page" };
                checks.push(check(
                    format!("order form: {what}"),
                    "/ordini/nuovo",
                    there,
                    detail,
                ));
            }
        }
        Err(e) => checks.push(check("order form", "/ordini/nuovo", false, e.to_string())),
    }
    checks
}

async fn order_detail(tab: &ErpTab, number: &str) -> Check {
    let page = format!("/ordini/{}", crate::erp::path_segment(number));
    match tab.order_lines(number).await {
        Ok(Some(table)) => match order_lines::from_table(&table.headers, &table.rows) {
            Ok(lines) => check(
                "order detail",
                &page,
                true,
                format!("order {number}: {} lines read", lines.len()),
            ),
            Err(e) => check("order detail", &page, false, format!("order {number}: {e}")),
        },
        Ok(None) => check(
            "order detail",
            &page,
            false,
            format!("order {number} of the report is not found (HTTP 404)"),
        ),
        Err(e) => check("order detail", &page, false, e.to_string()),
    }
}
