//! `blackant ctl customers | products | orders | order`: a quick look at the replicas through
//! the public `DataService` — a table for people, JSON Lines with `--json` for scripts. Pages
//! are followed up to `--limit` rows. Glue only: it must NOT read the SQLite files itself.

use super::rpc::{authed, rpc_error};
use anyhow::Result;
use blackant::grpc::pb;
use blackant::grpc::pb::data_service_client::DataServiceClient;
use clap::Args;
use tonic::transport::Channel;

#[derive(Debug, Args)]
pub struct CustomersArgs {
    /// Whose customers.
    #[arg(long)]
    agent: String,
    /// Codes starting with this.
    #[arg(long, default_value = "")]
    code: String,
    /// Names containing this (case-insensitive).
    #[arg(long, default_value = "")]
    name: String,
    /// In this city.
    #[arg(long, default_value = "")]
    city: String,
    /// Also customers deleted in the ERP.
    #[arg(long)]
    deleted: bool,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Debug, Args)]
pub struct ProductsArgs {
    /// Codes starting with this.
    #[arg(long, default_value = "")]
    code: String,
    /// Names containing this (case-insensitive).
    #[arg(long, default_value = "")]
    name: String,
    /// Of this group.
    #[arg(long, default_value = "")]
    group: String,
    /// Also products deleted in the ERP.
    #[arg(long)]
    deleted: bool,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Debug, Args)]
pub struct OrdersArgs {
    /// Whose orders.
    #[arg(long)]
    agent: String,
    /// With this status.
    #[arg(long, default_value = "")]
    status: String,
    /// Dated on or after (YYYY-MM-DD).
    #[arg(long, default_value = "")]
    from: String,
    /// Dated on or before (YYYY-MM-DD).
    #[arg(long, default_value = "")]
    to: String,
    /// Also orders deleted in the ERP.
    #[arg(long)]
    deleted: bool,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Debug, Args)]
pub struct OrderArgs {
    /// Whose order.
    #[arg(long)]
    agent: String,
    /// The order number.
    number: String,
}

/// Follow pages until `limit` rows or the last page.
async fn collect<T, F, Fut>(limit: usize, mut page: F) -> Result<Vec<T>>
where
    F: FnMut(String, i32) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String)>>,
{
    let mut rows = Vec::new();
    let mut token = String::new();
    while rows.len() < limit {
        let size = (limit - rows.len()).min(1000) as i32;
        let (mut got, next) = page(token, size).await?;
        rows.append(&mut got);
        if next.is_empty() {
            break;
        }
        token = next;
    }
    rows.truncate(limit);
    Ok(rows)
}

fn json_lines<T: serde::Serialize>(rows: &[T]) -> Result<()> {
    for r in rows {
        println!("{}", serde_json::to_string(r)?);
    }
    Ok(())
}

pub async fn customers(
    channel: Channel,
    token: &Option<String>,
    json: bool,
    a: CustomersArgs,
) -> Result<()> {
    let client = DataServiceClient::new(channel);
    let rows = collect(a.limit, |page_token, page_size| {
        let mut client = client.clone();
        let req = pb::ListCustomersRequest {
            agent: a.agent.clone(),
            code_prefix: a.code.clone(),
            name_contains: a.name.clone(),
            city: a.city.clone(),
            include_deleted: a.deleted,
            page_size,
            page_token,
        };
        async move {
            let r = client
                .list_customers(authed(token, req)?)
                .await
                .map_err(|s| rpc_error(&s))?
                .into_inner();
            Ok((r.customers, r.next_page_token))
        }
    })
    .await?;
    if json {
        return json_lines(&rows);
    }
    println!(
        "{:<12} {:<40} {:<20} {:<4} VAT",
        "CODE", "NAME", "CITY", "PROV"
    );
    for c in &rows {
        let deleted = if c.deleted_at.is_empty() {
            ""
        } else {
            " (deleted)"
        };
        println!(
            "{:<12} {:<40} {:<20} {:<4} {}{deleted}",
            c.code, c.name, c.city, c.province, c.vat_number
        );
    }
    Ok(())
}

pub async fn products(
    channel: Channel,
    token: &Option<String>,
    json: bool,
    a: ProductsArgs,
) -> Result<()> {
    let client = DataServiceClient::new(channel);
    let rows = collect(a.limit, |page_token, page_size| {
        let mut client = client.clone();
        let req = pb::ListProductsRequest {
            code_prefix: a.code.clone(),
            name_contains: a.name.clone(),
            group: a.group.clone(),
            include_deleted: a.deleted,
            page_size,
            page_token,
        };
        async move {
            let r = client
                .list_products(authed(token, req)?)
                .await
                .map_err(|s| rpc_error(&s))?
                .into_inner();
            Ok((r.products, r.next_page_token))
        }
    })
    .await?;
    if json {
        return json_lines(&rows);
    }
    println!(
        "{:<14} {:<40} {:<14} {:<10} PRICES",
        "CODE", "NAME", "GROUP", "STATUS"
    );
    for p in &rows {
        let prices: Vec<String> = p
            .prices
            .iter()
            .map(|x| format!("{} {} {}", x.price_list, x.unit_price, x.currency))
            .collect();
        println!(
            "{:<14} {:<40} {:<14} {:<10} {}",
            p.code,
            p.name,
            p.group,
            p.status,
            prices.join("; ")
        );
    }
    Ok(())
}

pub async fn orders(
    channel: Channel,
    token: &Option<String>,
    json: bool,
    a: OrdersArgs,
) -> Result<()> {
    let client = DataServiceClient::new(channel);
    let rows = collect(a.limit, |page_token, page_size| {
        let mut client = client.clone();
        let req = pb::ListOrdersRequest {
            agent: a.agent.clone(),
            status: a.status.clone(),
            date_from: a.from.clone(),
            date_to: a.to.clone(),
            include_deleted: a.deleted,
            page_size,
            page_token,
        };
        async move {
            let r = client
                .list_orders(authed(token, req)?)
                .await
                .map_err(|s| rpc_error(&s))?
                .into_inner();
            Ok((r.orders, r.next_page_token))
        }
    })
    .await?;
    if json {
        return json_lines(&rows);
    }
    println!(
        "{:<14} {:<10} {:<12} {:<16} {:>12} {:>5} {:>4} {:>4}",
        "NUMBER", "DATE", "CUSTOMER", "STATUS", "TOTAL", "LINES", "DDT", "INV"
    );
    for o in &rows {
        println!(
            "{:<14} {:<10} {:<12} {:<16} {:>12} {:>5} {:>4} {:>4}",
            o.order_number,
            o.order_date,
            o.customer_code,
            o.status,
            o.total_amount,
            o.lines.len(),
            o.ddts.len(),
            o.invoices.len()
        );
    }
    Ok(())
}

pub async fn order(
    channel: Channel,
    token: &Option<String>,
    json: bool,
    a: OrderArgs,
) -> Result<()> {
    let o = DataServiceClient::new(channel)
        .get_order(authed(
            token,
            pb::GetOrderRequest {
                agent: a.agent,
                order_number: a.number,
            },
        )?)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner();
    if json {
        return json_lines(&[o]);
    }
    println!(
        "order {} of {} ({}), customer {} {}, status {}, total {}",
        o.order_number,
        o.order_date,
        o.agent,
        o.customer_code,
        o.customer_name,
        o.status,
        o.total_amount
    );
    for l in &o.lines {
        println!(
            "  {:>3} {:<14} {:<40} {:>6} x {:>10} = {:>10}",
            l.line_no, l.product_code, l.description, l.quantity, l.unit_price, l.amount
        );
    }
    for d in &o.ddts {
        println!(
            "  DDT {} of {} by {} {}",
            d.ddt_number, d.ddt_date, d.carrier, d.tracking_number
        );
    }
    for i in &o.invoices {
        let paid = if i.paid { "paid" } else { "due" };
        println!(
            "  invoice {} of {}: {} ({paid} {})",
            i.invoice_number, i.invoice_date, i.total_amount, i.due_date
        );
    }
    Ok(())
}
