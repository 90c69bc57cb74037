//! `idc-demo`: the whole guardrail on local servers (see `scripts/demo.sh`, `make demo`).
//!
//!   idc-demo --mode dry-run|notify|remediate --bin-dir DIR --routes FILE [--logs DIR]
//!
//! Exits 0 only if every scenario ended as expected; stops everything it started, also on
//! Ctrl-C and on failure.

use std::path::PathBuf;
use std::process::ExitCode;

use idc_guard_tests::demo::{Options, read_routes, run};

fn usage(problem: &str) -> ExitCode {
    eprintln!("idc-demo: {problem}");
    eprintln!(
        "usage: idc-demo --mode dry-run|notify|remediate --bin-dir DIR --routes FILE [--logs DIR]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut mode = "remediate".to_owned();
    let mut bin_dir = None;
    let mut routes = None;
    let mut logs = PathBuf::from("target/demo/logs");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next();
        match arg.as_str() {
            "--mode" => match value() {
                Some(m) if ["dry-run", "notify", "remediate"].contains(&m.as_str()) => mode = m,
                other => {
                    return usage(&format!(
                        "--mode: {other:?} is not dry-run, notify or remediate"
                    ));
                }
            },
            "--bin-dir" => bin_dir = value().map(PathBuf::from),
            "--routes" => routes = value(),
            "--logs" => match value() {
                Some(l) => logs = PathBuf::from(l),
                None => return usage("--logs needs a directory"),
            },
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let Some(bin_dir) = bin_dir else {
        return usage("--bin-dir is required");
    };
    let Some(routes_file) = routes else {
        return usage("--routes is required");
    };
    let routes = match std::fs::read_to_string(&routes_file)
        .map_err(|e| format!("{routes_file}: {e}"))
        .and_then(|t| read_routes(&t))
    {
        Ok(r) => r,
        Err(e) => return usage(&e),
    };
    let options = Options {
        mode,
        bin_dir,
        routes,
        logs,
    };
    let mut print = |line: &str| println!("{line}");
    let result = tokio::select! {
        r = run(&options, &mut print) => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted (Ctrl-C): stopping everything".to_owned()),
    };
    match result {
        Ok(rows) => {
            println!("\n{:<64} result", "scenario");
            let mut all = true;
            for row in &rows {
                let mark = if row.verdict.is_ok() { "ok" } else { "FAILED" };
                all &= row.verdict.is_ok();
                println!("{:<64} {mark}", row.title);
            }
            if all {
                println!("\nevery scenario ended as expected (mode {})", options.mode);
                ExitCode::SUCCESS
            } else {
                println!(
                    "\nsome scenarios did not end as expected (mode {})",
                    options.mode
                );
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("idc-demo: {e}");
            ExitCode::from(1)
        }
    }
}
