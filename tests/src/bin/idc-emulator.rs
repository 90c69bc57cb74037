//! `idc-emulator`: the local IAM Identity Center (sso-admin) emulator as a process, for the
//! demo. Prints `idc-emulator listening on http://HOST:PORT` and serves until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use idc_guard_tests::idc_emulator::{Emulator, EmulatorOptions, SeedInstance, serve_emulator};

const USAGE: &str = "usage: idc-emulator [--host ADDR] [--port N] [--kms-endpoint URL] [--add-delay-ms N] [--seed FILE]
  --host ADDR          address to bind (default 127.0.0.1)
  --port N             port to bind, 0 = any free port (default 0)
  --kms-endpoint URL   check KMS keys on AddRegion/UpdateInstance at this endpoint (e.g. moto)
  --add-delay-ms N     how long a Region stays ADDING/REMOVING (default 2000)
  --seed FILE          JSON instance to serve from the start and after a reset:
                       {\"instance_arn\", \"owner_account_id\", \"identity_store_id\",
                        \"primary_region\", \"regions\": [...], \"kms_key_arn\"}";

#[derive(Debug)]
struct Args {
    host: String,
    port: u16,
    options: EmulatorOptions,
    seed: Option<String>,
}

/// A usage error: the message names the flag.
#[derive(Debug)]
struct UsageError(String);

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, UsageError> {
    let mut parsed = Args {
        host: "127.0.0.1".to_owned(),
        port: 0,
        options: EmulatorOptions::default(),
        seed: None,
    };
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        // Both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| UsageError(format!("{flag}: missing value")))
        };
        match flag.as_str() {
            "--host" => parsed.host = value()?,
            "--port" => {
                let v = value()?;
                parsed.port = v.parse().map_err(|_| {
                    UsageError(format!("--port: expected a port number 0-65535, got {v:?}"))
                })?;
            }
            "--kms-endpoint" => {
                let v = value()?;
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    return Err(UsageError(format!(
                        "--kms-endpoint: expected an http:// or https:// URL, got {v:?}"
                    )));
                }
                parsed.options.kms_endpoint = Some(v);
            }
            "--add-delay-ms" => {
                let v = value()?;
                let ms: u64 = v.parse().map_err(|_| {
                    UsageError(format!(
                        "--add-delay-ms: expected milliseconds (a whole number), got {v:?}"
                    ))
                })?;
                parsed.options.add_delay = Duration::from_millis(ms);
            }
            "--seed" => parsed.seed = Some(value()?),
            other => return Err(UsageError(format!("{other}: unknown flag"))),
        }
    }
    Ok(Some(parsed))
}

fn load_seed(path: &str) -> Result<SeedInstance, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--seed {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("--seed {path}: {e}"))
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(UsageError(msg)) => {
            eprintln!("idc-emulator: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let emulator = Emulator::new(&args.options);
    if let Some(path) = &args.seed {
        let seeded = load_seed(path).and_then(|seed| {
            emulator
                .set_baseline(seed)
                .map_err(|e| format!("--seed {path}: {e}"))
        });
        if let Err(msg) = seeded {
            eprintln!("idc-emulator: {msg}");
            return ExitCode::from(2);
        }
    }
    let listener = match tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "idc-emulator: --host/--port: cannot bind {}:{}: {e}",
                args.host, args.port
            );
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("idc-emulator: cannot read the bound address: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("idc-emulator listening on http://{addr}");
    // The demo script waits for this line; make sure it leaves a pipe at once.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    match serve_emulator(listener, emulator, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idc-emulator: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, UsageError> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags() {
        let a = parse(&[
            "--port",
            "8080",
            "--add-delay-ms=250",
            "--kms-endpoint",
            "http://x:1",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.port, 8080);
        assert_eq!(a.options.add_delay, Duration::from_millis(250));
        assert_eq!(a.options.kms_endpoint.as_deref(), Some("http://x:1"));
        assert_eq!(a.host, "127.0.0.1");
        assert!(parse(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn errors_name_the_flag() {
        for (args, flag) in [
            (&["--port", "x"][..], "--port"),
            (&["--port"][..], "--port"),
            (&["--add-delay-ms", "-1"][..], "--add-delay-ms"),
            (&["--kms-endpoint", "localhost"][..], "--kms-endpoint"),
            (&["--bogus"][..], "--bogus"),
        ] {
            let UsageError(msg) = parse(args).unwrap_err();
            assert!(msg.starts_with(flag), "{msg}");
        }
    }
}
