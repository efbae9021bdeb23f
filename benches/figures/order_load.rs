//! Figure 5: twenty agents' order syncs at once, 2 browsers, the simulator in its own process
//! (`blackant sim`) and this measurement in a child process, so the RSS is the service's alone.

use crate::setup::{self, run_all};
use crate::table::{Table, ms, rss_mib};
use archibald_sim::{Account, Role};
use blackant::records::Kind;
use blackant_actors::run::{Mode, Scope};
use std::process::Command;

/// Re-run this benchmark as a child doing only the order load.
pub fn in_child(agents: usize) {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe)
        .arg("--order-load")
        .arg(agents.to_string())
        .output()
        .expect("run the order load");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        println!(
            "   the order load failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
}

/// `--order-load N`: start `blackant sim` with enough agents, then N agents' order syncs at once.
pub fn run(agents: usize) {
    let blackant = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("blackant")))
        .filter(|p| p.exists())
        .expect("target/release/blackant (make bench builds it)");
    let scale = agents.div_ceil(3).to_string();
    let mut sim = Command::new(blackant)
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "42",
            "--scale",
            &scale,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start blackant sim");
    let mut url = String::new();
    let mut accounts = Vec::new();
    {
        use std::io::BufRead;
        let stdout = sim.stdout.take().expect("sim stdout");
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.expect("sim output");
            if let Some(u) = line.strip_prefix("Archibald simulator at ") {
                url = u.trim().to_string();
            } else if line.starts_with("controls:") {
                break;
            } else if let [user, role, "password", password] =
                line.split_whitespace().collect::<Vec<_>>()[..]
            {
                accounts.push(Account {
                    username: user.to_string(),
                    password: password.to_string(),
                    role: if role == "service" {
                        Role::Service
                    } else {
                        Role::Agent
                    },
                });
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (service, _data) = setup::service_at(&url, &accounts, 2).await;
        let (idle_rss, _) = rss_mib();
        let runs: Vec<(Kind, Scope)> = accounts
            .iter()
            .filter(|a| a.role == Role::Agent)
            .take(agents)
            .map(|a| (Kind::Orders, Scope::Agent(a.username.clone())))
            .collect();
        let (first, orders) = run_all(&service, &runs, Mode::Full).await;
        let (_, first_peak) = rss_mib();
        let (again, _) = run_all(&service, &runs, Mode::Delta).await;
        let (after, peak) = rss_mib();
        Table::new(
            format!(
                "5. {} agents' order syncs at once, 2 browsers, simulator in its own process",
                runs.len()
            ),
            &["", "wall", "RSS MiB", "peak MiB"],
        )
        .row([
            format!("first sync ({orders} orders, each one's detail page)"),
            ms(first),
            format!("{idle_rss:.0} idle"),
            format!("{first_peak:.0}"),
        ])
        .row([
            "again, nothing changed".to_string(),
            ms(again),
            format!("{after:.0}"),
            format!("{peak:.0}"),
        ])
        .print();
        service.shutdown().await;
    });
    let _ = sim.kill();
    let _ = sim.wait();
}
