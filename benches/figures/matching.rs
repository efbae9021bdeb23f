//! Figure 2b: price matching (code, normalised code, name, normalised name) per item, against
//! the simulator's catalogue, and how many rows match unlike the simulator's truth.

use crate::table::{Table, ms, time_n};
use archibald_sim::data::World;
use blackant::store::prices::ProductIndex;

pub fn run(world: &World, reps: usize) {
    let products = || {
        world
            .products
            .iter()
            .map(|p| (p.code.as_str(), Some(p.name.as_str())))
    };
    let index = ProductIndex::new(products());
    let rows: Vec<(&str, &str)> = world
        .prices
        .iter()
        .map(|p| (p.product_code.as_str(), p.product_name.as_str()))
        .collect();
    let all = time_n(reps, || {
        rows.iter()
            .filter(|(c, n)| index.find(c, Some(n)).is_some())
            .count()
    });
    let differ = world
        .prices
        .iter()
        .filter(|p| {
            index
                .find(&p.product_code, Some(&p.product_name))
                .map(|(c, _)| c.to_string())
                != p.real_product
        })
        .count();
    let build = time_n(reps, || ProductIndex::new(products()));
    Table::new(
        format!("2b. price matching, median of {reps}"),
        &[
            "rows",
            "products",
            "per item",
            "all",
            "index build",
            "unlike the ERP",
        ],
    )
    .row([
        rows.len().to_string(),
        world.products.len().to_string(),
        format!("{:.0} ns", all.as_secs_f64() * 1e9 / rows.len() as f64),
        ms(all),
        ms(build),
        differ.to_string(),
    ])
    .print();
}
