//! The OrderPlacer's way into Archibald: `ErpSource` implements the placer's `OrderForm` —
//! the agent's own browser context leased at the highest priority, the form filled and
//! submitted, the order list searched, each outcome recorded in the circuit breakers.
//!
//! Maps the ERP's errors onto what the placer must do (retry, wait for the session, give up);
//! it must NOT decide about the placement itself.

use super::source::{ErpSource, SourceError};
use crate::erp::{Credentials, ErpError, ErpTab, FillError, SubmitFailure};
use blackant_actors::browser_pool::{ChromiumLauncher, Lease};
use blackant_actors::order_placer::{FormError, OrderDraft, OrderForm, SubmitError};
use blackant_actors::run::Scope;
use futures::FutureExt;
use futures::future::BoxFuture;

/// Lease priority of a placement: above every sync kind (DESIGN.md: placing an order is the
/// priority operation).
pub const PLACEMENT_PRIORITY: u8 = u8::MAX;

/// A filled order form: its tab (closed when dropped) and the lease that holds its browser.
pub struct FilledOrder {
    // Field order is drop order: the tab closes before the lease returns the browser.
    tab: ErpTab,
    lease: Lease<ChromiumLauncher>,
    credentials: Credentials,
}

/// What the placer should do about an ERP error that happened before any click.
fn form_error(e: SourceError) -> FormError {
    match e {
        SourceError::NoCredentials(why) => FormError::NoSession(why),
        SourceError::Erp(ErpError::BadCredentials { .. }) => FormError::Permanent(e.to_string()),
        e if e.is_transient() => FormError::Retry(e.to_string()),
        e => FormError::Permanent(e.to_string()),
    }
}

impl ErpSource {
    async fn lease_agent(
        &self,
        agent: &str,
    ) -> Result<(Lease<ChromiumLauncher>, Credentials), FormError> {
        self.lease_at(&Scope::Agent(agent.to_string()), PLACEMENT_PRIORITY)
            .await
            .map_err(form_error)
    }
}

impl OrderForm for ErpSource {
    type Filled = FilledOrder;

    fn fill<'a>(
        &'a self,
        agent: &'a str,
        order: &'a OrderDraft,
    ) -> BoxFuture<'a, Result<FilledOrder, FormError>> {
        async move {
            let (mut lease, credentials) = self.lease_agent(agent).await?;
            let opened = self.open_tab(&lease, &credentials, None).await;
            let tab = self
                .settle(&mut lease, &credentials, opened)
                .map_err(form_error)?;
            match tab.fill_order(order).await {
                Ok(()) => Ok(FilledOrder {
                    tab,
                    lease,
                    credentials,
                }),
                Err(FillError::Rejected(why)) => Err(FormError::Rejected(why)),
                Err(FillError::Erp(e)) => {
                    let settled: Result<(), _> = self.settle(&mut lease, &credentials, Err(e));
                    Err(settled
                        .map_err(form_error)
                        .err()
                        .unwrap_or_else(|| FormError::Retry("the order form failed".into())))
                }
            }
        }
        .boxed()
    }

    fn submit(&self, filled: FilledOrder) -> BoxFuture<'_, Result<String, SubmitError>> {
        async move {
            let FilledOrder {
                tab,
                mut lease,
                credentials,
            } = filled;
            let answer = tab.submit_order().await;
            drop(tab);
            match answer {
                Ok(number) => {
                    let _ = self.settle(&mut lease, &credentials, Ok(()));
                    Ok(number)
                }
                Err(SubmitFailure::Rejected(why)) => Err(SubmitError::Rejected(why)),
                Err(SubmitFailure::Unknown(why)) => Err(SubmitError::Unknown(why)),
            }
        }
        .boxed()
    }

    fn find<'a>(
        &'a self,
        agent: &'a str,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, FormError>> {
        async move {
            let (mut lease, credentials) = self.lease_agent(agent).await?;
            let found = async {
                let tab = self.open_tab(&lease, &credentials, None).await?;
                tab.find_orders(reference).await
            }
            .await;
            self.settle(&mut lease, &credentials, found)
                .map_err(form_error)
        }
        .boxed()
    }
}
