//! `blackant ctl` as an operator runs it against a served address: placing an order from a
//! JSON file and following it to the end, running the same command again (the same order, not
//! a second one), listing placements, the placements in the status, and the errors a mistyped file or order gets.

use crate::util::order_world::OrderWorld;
use std::process::Output;

async fn ctl(addr: &str, args: &[&str]) -> Output {
    let mut all = vec!["ctl".to_string(), "--addr".into(), format!("http://{addr}")];
    all.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_blackant"))
            .args(&all)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run blackant ctl")
    })
    .await
    .expect("ctl ran")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_places_an_order_once_follows_it_and_lists_it() {
    let world = OrderWorld::start(&["agent2"], 3).await;
    let (_serve, addr) = world.serve();
    world.open_sessions(&addr).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, quantity) = world.lines[0].clone();
    let file = dir.path().join("order.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "customer_code": world.customers["agent2"],
            "lines": [{ "code": code, "quantity": quantity }],
            "notes": "ordine da ctl",
        })
        .to_string(),
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let first = ctl(&addr, &["place", "--user", "agent2", file, "--watch"]).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let out = text(&first.stdout);
    let number = out
        .split("placed as Archibald order ")
        .nth(1)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("the order number in {out:?}"));
    let reference = text(&first.stderr)
        .split("reference ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("the reference")
        .to_string();
    assert!(
        text(&first.stderr).contains("submitting → placed"),
        "the transitions are shown: {}",
        text(&first.stderr)
    );

    // The same command again: the key is derived from the agent and the file, so it answers
    // the same placement and Archibald still has one order.
    let again = ctl(&addr, &["place", "--user", "agent2", file, "--watch"]).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("already placed"));
    assert!(text(&again.stdout).contains(&number));
    assert_eq!(
        world.orders_with_reference(&reference).await,
        vec![number.clone()]
    );

    let list = ctl(
        &addr,
        &["placements", "--user", "agent2", "--state", "placed"],
    )
    .await;
    assert!(list.status.success(), "{}", text(&list.stderr));
    let rows: Vec<String> = text(&list.stdout)
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("placed") && rows[0].contains(&number),
        "{rows:?}"
    );

    // The status names the placements per state (an operator sees any waiting for them).
    let status = ctl(&addr, &["status"]).await;
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stdout).contains("placements: 1 placed"),
        "{}",
        text(&status.stdout)
    );

    // Mistakes get one clear error and a failing exit status, before any ERP work.
    let bad_state = ctl(&addr, &["placements", "--state", "shipped"]).await;
    assert_eq!(bad_state.status.code(), Some(2));
    assert!(text(&bad_state.stderr).contains("unknown state"));
    let not_json = dir.path().join("nope.json");
    std::fs::write(&not_json, "{\"customer\": 1}").unwrap();
    let bad_file = ctl(
        &addr,
        &["place", "--user", "agent2", not_json.to_str().unwrap()],
    )
    .await;
    assert_eq!(bad_file.status.code(), Some(1));
    assert!(text(&bad_file.stderr).contains("is not an order file"));
    let zero = dir.path().join("zero.json");
    std::fs::write(
        &zero,
        serde_json::json!({
            "customer_code": world.customers["agent2"],
            "lines": [{ "code": code, "quantity": 0 }],
        })
        .to_string(),
    )
    .unwrap();
    let invalid = ctl(
        &addr,
        &["place", "--user", "agent2", zero.to_str().unwrap()],
    )
    .await;
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        text(&invalid.stderr).contains("InvalidArgument")
            && text(&invalid.stderr).contains("quantity"),
        "{}",
        text(&invalid.stderr)
    );
}
