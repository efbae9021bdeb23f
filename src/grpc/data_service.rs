//! `blackant.v1.DataService`: a thin adapter over the service's replica reads — who may read
//! what (an agent its own customers and orders, a service every agent's, anyone with a token
//! the catalogue, operators the unmatched prices), AIP-158 page sizes and tokens, rows to
//! messages.
//!
//! A page token is opaque to clients: a fingerprint of the query it belongs to, then the key of
//! the last row served, hex-encoded. A token that is not one of ours, or that belongs to
//! another query, is refused with INVALID_ARGUMENT rather than silently restarting the listing.

use super::admin_service::operator;
use super::auth::{Principal, principal};
use super::convert::status_of;
use super::pb;
use crate::service::{
    CustomerQuery, CustomerRow, OrderQuery, OrderRow, Page, PageAt, PriceRow, ProductQuery,
    ProductRow, Service, clip,
};
use blackant_actors::digest::hex;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Page size when the request says 0, and the largest served (larger requests are coerced).
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 1000;
/// Bytes of the query fingerprint at the start of a token.
const FINGERPRINT: usize = 8;

pub struct DataApi {
    service: Arc<Service>,
}

impl DataApi {
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }
}

/// The fingerprint of a query: the RPC and every filter, so a token only continues its own.
fn fingerprint(parts: &[&str]) -> [u8; FINGERPRINT] {
    let mut hash = Sha256::new();
    for p in parts {
        hash.update((p.len() as u64).to_le_bytes());
        hash.update(p.as_bytes());
    }
    let digest = hash.finalize();
    let mut out = [0u8; FINGERPRINT];
    out.copy_from_slice(&digest[..FINGERPRINT]);
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Where a page starts, from the request's size and token.
fn page_at(query: &[&str], size: i32, token: &str) -> Result<PageAt, Status> {
    let size = match size {
        n if n < 0 => {
            return Err(Status::invalid_argument("page_size: must not be negative"));
        }
        0 => DEFAULT_PAGE,
        n => (n as usize).min(MAX_PAGE),
    };
    if token.is_empty() {
        return Ok(PageAt {
            after: String::new(),
            size,
        });
    }
    let bad = || {
        Status::invalid_argument(
            "page_token: not a token this query returned (start again without one)",
        )
    };
    let bytes = unhex(token).ok_or_else(bad)?;
    if bytes.len() <= FINGERPRINT || bytes[..FINGERPRINT] != fingerprint(query) {
        return Err(bad());
    }
    let after = String::from_utf8(bytes[FINGERPRINT..].to_vec()).map_err(|_| bad())?;
    Ok(PageAt { after, size })
}

/// The token of the page after this one, or empty on the last page.
fn next_token<T>(query: &[&str], page: &Page<T>, key: impl Fn(&T) -> &str) -> String {
    match page.rows.last() {
        Some(last) if page.more => {
            let mut bytes = fingerprint(query).to_vec();
            bytes.extend_from_slice(key(last).as_bytes());
            hex(&bytes)
        }
        _ => String::new(),
    }
}

/// The agent a per-agent read names, checked against the caller.
fn agent_of(who: &Principal, agent: &str) -> Result<String, Status> {
    let agent = agent.trim();
    if agent.is_empty() {
        return Err(Status::invalid_argument("agent: say whose data to read"));
    }
    if !who.may_access_agent(agent) {
        return Err(Status::permission_denied(format!(
            "this token may not read agent {:?}'s data",
            clip(agent)
        )));
    }
    Ok(agent.to_string())
}

fn flag(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

fn customer(r: CustomerRow) -> pb::Customer {
    pb::Customer {
        code: r.code,
        name: r.name,
        vat_number: r.vat_number,
        fiscal_code: r.fiscal_code,
        street: r.street,
        postal_code: r.postal_code,
        city: r.city,
        province: r.province,
        phone: r.phone,
        email: r.email,
        pec: r.pec,
        sdi_code: r.sdi_code,
        payment_terms: r.payment_terms,
        last_order_date: r.last_order_date,
        updated_at: r.updated_at,
        deleted_at: r.deleted_at,
    }
}

fn price(r: PriceRow) -> pb::Price {
    pb::Price {
        price_list: r.price_list,
        unit_price: r.unit_price,
        currency: r.currency,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
        product_code: r.product_code,
        product_name: r.product_name,
        match_method: r.match_method,
    }
}

fn product(r: ProductRow) -> pb::Product {
    pb::Product {
        code: r.code,
        name: r.name,
        group: r.group,
        package_content: r.package_content,
        min_qty: r.min_qty,
        qty_multiple: r.qty_multiple,
        vat_rate: r.vat_rate,
        ean: r.ean,
        status: r.status,
        prices: r.prices.into_iter().map(price).collect(),
        updated_at: r.updated_at,
        deleted_at: r.deleted_at,
    }
}

fn order(r: OrderRow) -> pb::Order {
    pb::Order {
        agent: r.agent,
        order_number: r.order_number,
        order_date: r.order_date,
        customer_code: r.customer_code,
        customer_name: r.customer_name,
        status: r.status,
        delivery_date: r.delivery_date,
        net_amount: r.net_amount,
        total_amount: r.total_amount,
        customer_reference: r.customer_reference,
        lines: r
            .lines
            .into_iter()
            .map(|l| pb::ReplicaOrderLine {
                line_no: l.line_no,
                product_code: l.product_code,
                description: l.description,
                quantity: l.quantity,
                unit_price: l.unit_price,
                discount_pct: l.discount_pct,
                amount: l.amount,
            })
            .collect(),
        ddts: r
            .ddts
            .into_iter()
            .map(|d| pb::Ddt {
                ddt_number: d.ddt_number,
                ddt_date: d.ddt_date,
                carrier: d.carrier,
                tracking_number: d.tracking_number,
                packages: d.packages,
                weight_kg: d.weight_kg,
                delivery_address: d.delivery_address,
            })
            .collect(),
        invoices: r
            .invoices
            .into_iter()
            .map(|i| pb::Invoice {
                invoice_number: i.invoice_number,
                invoice_date: i.invoice_date,
                net_amount: i.net_amount,
                vat_amount: i.vat_amount,
                total_amount: i.total_amount,
                due_date: i.due_date,
                paid: i.paid,
            })
            .collect(),
        updated_at: r.updated_at,
        deleted_at: r.deleted_at,
    }
}

#[tonic::async_trait]
impl pb::data_service_server::DataService for DataApi {
    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let agent = agent_of(&who, &req.agent)?;
        let query = [
            "customers",
            agent.as_str(),
            &req.code_prefix,
            &req.name_contains,
            &req.city,
            flag(req.include_deleted),
        ];
        let at = page_at(&query, req.page_size, &req.page_token)?;
        let filters = CustomerQuery {
            code_prefix: req.code_prefix.clone(),
            name_contains: req.name_contains.clone(),
            city: req.city.clone(),
            include_deleted: req.include_deleted,
        };
        let page = self
            .service
            .customers_page(&agent, filters, at)
            .await
            .map_err(status_of)?;
        let next_page_token = next_token(&query, &page, |r| &r.code);
        Ok(Response::new(pb::ListCustomersResponse {
            customers: page.rows.into_iter().map(customer).collect(),
            next_page_token,
        }))
    }

    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        principal(&request)?;
        let req = request.into_inner();
        let query = [
            "products",
            &req.code_prefix,
            &req.name_contains,
            &req.group,
            flag(req.include_deleted),
        ];
        let at = page_at(&query, req.page_size, &req.page_token)?;
        let filters = ProductQuery {
            code_prefix: req.code_prefix.clone(),
            name_contains: req.name_contains.clone(),
            group: req.group.clone(),
            include_deleted: req.include_deleted,
        };
        let page = self
            .service
            .products_page(filters, at)
            .await
            .map_err(status_of)?;
        let next_page_token = next_token(&query, &page, |r| &r.code);
        Ok(Response::new(pb::ListProductsResponse {
            products: page.rows.into_iter().map(product).collect(),
            next_page_token,
        }))
    }

    async fn list_unmatched_prices(
        &self,
        request: Request<pb::ListUnmatchedPricesRequest>,
    ) -> Result<Response<pb::ListUnmatchedPricesResponse>, Status> {
        operator(&request)?;
        let req = request.into_inner();
        let query = ["unmatched prices"];
        let at = page_at(&query, req.page_size, &req.page_token)?;
        let page = self
            .service
            .unmatched_prices_page(at)
            .await
            .map_err(status_of)?;
        let next_page_token = next_token(&query, &page, |r| &r.record_key);
        Ok(Response::new(pb::ListUnmatchedPricesResponse {
            prices: page.rows.into_iter().map(price).collect(),
            next_page_token,
        }))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let agent = agent_of(&who, &req.agent)?;
        for (field, date) in [("date_from", &req.date_from), ("date_to", &req.date_to)] {
            if !date.is_empty() && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
                return Err(Status::invalid_argument(format!(
                    "{field}: {:?} is not a date YYYY-MM-DD",
                    clip(date)
                )));
            }
        }
        let query = [
            "orders",
            agent.as_str(),
            &req.status,
            &req.date_from,
            &req.date_to,
            flag(req.include_deleted),
        ];
        let at = page_at(&query, req.page_size, &req.page_token)?;
        let filters = OrderQuery {
            status: req.status.clone(),
            date_from: req.date_from.clone(),
            date_to: req.date_to.clone(),
            include_deleted: req.include_deleted,
        };
        let page = self
            .service
            .orders_page(&agent, filters, at)
            .await
            .map_err(status_of)?;
        let next_page_token = next_token(&query, &page, |r| &r.order_number);
        Ok(Response::new(pb::ListOrdersResponse {
            orders: page.rows.into_iter().map(order).collect(),
            next_page_token,
        }))
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let agent = agent_of(&who, &req.agent)?;
        let number = req.order_number.trim();
        if number.is_empty() {
            return Err(Status::invalid_argument(
                "order_number: say which order to read",
            ));
        }
        match self
            .service
            .order(&agent, number)
            .await
            .map_err(status_of)?
        {
            Some(found) => Ok(Response::new(order(found))),
            None => Err(Status::not_found(format!(
                "agent {agent} has no order {:?} in the replica",
                clip(number)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_continues_only_its_own_query() {
        let q = ["customers", "agent1", "", "", "", "0"];
        let page = Page {
            rows: vec!["C001".to_string(), "C002".to_string()],
            more: true,
        };
        let token = next_token(&q, &page, |r| r.as_str());
        let at = page_at(&q, 2, &token).unwrap();
        assert_eq!(at.after, "C002");
        assert_eq!(at.size, 2);
        // Another filter, another agent, garbage, truncation: refused, never a restart.
        let other = ["customers", "agent2", "", "", "", "0"];
        for bad in [
            page_at(&other, 2, &token),
            page_at(&q, 2, "zz"),
            page_at(&q, 2, &token[..FINGERPRINT * 2]),
            page_at(&q, 2, "é"),
        ] {
            assert_eq!(bad.unwrap_err().code(), tonic::Code::InvalidArgument);
        }
        // The last page has no token.
        let last = Page {
            rows: page.rows.clone(),
            more: false,
        };
        assert!(next_token(&q, &last, |r| r.as_str()).is_empty());
    }

    #[test]
    fn page_sizes_default_and_are_capped() {
        let q = ["products"];
        assert_eq!(page_at(&q, 0, "").unwrap().size, DEFAULT_PAGE);
        assert_eq!(page_at(&q, 1_000_000, "").unwrap().size, MAX_PAGE);
        assert_eq!(
            page_at(&q, -1, "").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
}
