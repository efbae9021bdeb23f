//! Reading the replicas for the PWA backend: an agent's customers, the catalogue with the
//! prices in force today, unmatched prices, an agent's orders and one order — a page at a time,
//! each page one read-only snapshot on a blocking thread (never through a DbWriter).
//!
//! Checks the agent is known (an unknown one is `UnknownAgent`, not an empty page); a file not
//! synced yet reads as an empty page. Must NOT decide who may read what (the adapters do, from
//! the caller's principal) nor write anything.

use super::{Service, ServiceError, clip};
use crate::store::replica::{
    self, CustomerQuery, CustomerRow, OrderQuery, OrderRow, Page, PriceRow, ProductQuery,
    ProductRow,
};

/// Which page: the key of the previous page's last row (empty for the first) and its size.
#[derive(Debug, Clone, Default)]
pub struct PageAt {
    pub after: String,
    pub size: usize,
}

fn empty<T>() -> Page<T> {
    Page {
        rows: Vec::new(),
        more: false,
    }
}

/// Today in the service's time zone, as prices' validity dates are written (`YYYY-MM-DD`).
fn today() -> String {
    chrono::Local::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

impl Service {
    fn known_agent(&self, agent: &str) -> Result<(), ServiceError> {
        if self.is_known_agent(agent) {
            Ok(())
        } else {
            Err(ServiceError::UnknownAgent(clip(agent)))
        }
    }

    /// A page of `agent`'s customers.
    pub async fn customers_page(
        &self,
        agent: &str,
        query: CustomerQuery,
        at: PageAt,
    ) -> Result<Page<CustomerRow>, ServiceError> {
        self.known_agent(agent)?;
        let path = self
            .data
            .customers_db(agent)
            .map_err(|_| ServiceError::UnknownAgent(clip(agent)))?;
        let page = self
            .reads
            .read_file(path, "the customers", move |conn| {
                replica::customers(conn, &query, &at.after, at.size)
            })
            .await?;
        Ok(page.unwrap_or_else(empty))
    }

    /// A page of the catalogue, each product with its prices in force today.
    pub async fn products_page(
        &self,
        query: ProductQuery,
        at: PageAt,
    ) -> Result<Page<ProductRow>, ServiceError> {
        let today = today();
        let page = self
            .reads
            .read_file(self.data.products_db(), "the catalogue", move |conn| {
                replica::products(conn, &query, &today, &at.after, at.size)
            })
            .await?;
        Ok(page.unwrap_or_else(empty))
    }

    /// A page of the price rows that match no product.
    pub async fn unmatched_prices_page(&self, at: PageAt) -> Result<Page<PriceRow>, ServiceError> {
        let page = self
            .reads
            .read_file(
                self.data.products_db(),
                "the unmatched prices",
                move |conn| replica::unmatched_prices(conn, &at.after, at.size),
            )
            .await?;
        Ok(page.unwrap_or_else(empty))
    }

    /// A page of `agent`'s orders with their lines, DDTs and invoices.
    pub async fn orders_page(
        &self,
        agent: &str,
        query: OrderQuery,
        at: PageAt,
    ) -> Result<Page<OrderRow>, ServiceError> {
        self.known_agent(agent)?;
        let agent = agent.to_string();
        let page = self
            .reads
            .read_file(self.data.orders_db(), "the orders", move |conn| {
                replica::orders(conn, &agent, &query, &at.after, at.size)
            })
            .await?;
        Ok(page.unwrap_or_else(empty))
    }

    /// One of `agent`'s orders by number, if the replica has it.
    pub async fn order(&self, agent: &str, number: &str) -> Result<Option<OrderRow>, ServiceError> {
        self.known_agent(agent)?;
        let (agent, number) = (agent.to_string(), number.to_string());
        let order = self
            .reads
            .read_file(self.data.orders_db(), "an order", move |conn| {
                replica::order(conn, &agent, &number)
            })
            .await?;
        Ok(order.flatten())
    }
}
