//! `blackant ctl` as an operator runs it against a served address: placing an order from a
//! JSON file and following it to the end, running the same command again (the same order, not
//! a second one), listing placements, the placements in the status, and the errors a mistyped
//! file or order gets; the replicas as tables and JSON, the actor tree, pauses, schedules.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_shows_the_replicas_and_operates_the_tree_the_pauses_and_the_schedules() {
    let world = OrderWorld::start(&["agent2"], 3).await;
    // The world's config turns the Scheduler off; the environment turns it back on.
    let (_serve, addr) = world.serve_env(&[("BLACKANT_SCHEDULE_ENABLED", "true")]);
    world.open_sessions(&addr).await;
    let synced = ctl(&addr, &["sync", "customers", "--user", "agent2", "--watch"]).await;
    assert!(synced.status.success(), "{}", text(&synced.stderr));

    // Every customer of the replica, through pages, as JSON Lines.
    let truth: Vec<serde_json::Value> =
        crate::util::process::sim_json(&world.sim, "truth/customers?agent=agent2").await;
    let out = ctl(
        &addr,
        &[
            "--json",
            "customers",
            "--agent",
            "agent2",
            "--limit",
            "100000",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), truth.len());
    let codes: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["code"].as_str()).collect();
    for t in &truth {
        assert!(codes.contains(t["code"].as_str().unwrap()), "{t}");
    }
    // A table for people; an unknown agent is one line naming the code.
    let table = ctl(&addr, &["customers", "--agent", "agent2", "--limit", "3"]).await;
    assert_eq!(
        text(&table.stdout).lines().count(),
        4,
        "a header and 3 rows"
    );
    let unknown = ctl(&addr, &["customers", "--agent", "nobody"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    let err = text(&unknown.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("NotFound") && err.contains("nobody"), "{err}");

    // The tree, an actor restarted by name, pause and resume.
    let actors = ctl(&addr, &["--json", "actors"]).await;
    assert!(actors.status.success(), "{}", text(&actors.stderr));
    let names: Vec<String> = text(&actors.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("CustomerSync")),
        "{names:?}"
    );
    let restarted = ctl(&addr, &["--json", "actor", "restart", "ImageFetcher"]).await;
    assert!(restarted.status.success(), "{}", text(&restarted.stderr));
    let actor: serde_json::Value = serde_json::from_str(text(&restarted.stdout).trim()).unwrap();
    assert_eq!(actor["state"], "running");
    assert!(actor["restarts"].as_u64().unwrap() >= 1);
    let paused = ctl(&addr, &["--json", "pause"]).await;
    assert!(paused.status.success(), "{}", text(&paused.stderr));
    let paused: serde_json::Value = serde_json::from_str(text(&paused.stdout).trim()).unwrap();
    assert!(paused["timed_out"].as_array().unwrap().is_empty());
    let resumed = ctl(&addr, &["resume"]).await;
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));

    // A schedule changed, and read back.
    let changed = ctl(
        &addr,
        &[
            "--json",
            "schedule",
            "invoices",
            "--interval",
            "2h",
            "--priority",
            "7",
        ],
    )
    .await;
    assert!(changed.status.success(), "{}", text(&changed.stderr));
    let all = ctl(&addr, &["--json", "schedules"]).await;
    let invoices = text(&all.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|s| s["kind"] == "invoices")
        .expect("the invoices schedule");
    assert_eq!(invoices["interval_s"], 7200.0);
    assert_eq!(invoices["priority"], 7);
}
