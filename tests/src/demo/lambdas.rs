//! The release (or debug) Lambda binaries as child processes, each behind its own local
//! Runtime API, exactly as Lambda runs them. Every child is killed when this is dropped
//! (normal end, failure or Ctrl-C).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::runtime_api::{Answer, RuntimeApi, lambda_environment};

/// How long one invocation may take (the stack's timeout).
pub const TIMEOUT: Duration = Duration::from_secs(60);

struct Function {
    api: RuntimeApi,
    child: Child,
}

/// The running functions, by binary name.
pub struct Lambdas {
    functions: BTreeMap<String, Function>,
    logs: PathBuf,
}

impl std::fmt::Debug for Lambdas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lambdas")
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Drop for Lambdas {
    fn drop(&mut self) {
        for f in self.functions.values_mut() {
            let _ = f.child.kill();
            let _ = f.child.wait();
        }
    }
}

impl Lambdas {
    /// Nothing started yet; function logs go to `logs/<name>.log`.
    pub fn new(logs: &Path) -> Result<Lambdas, String> {
        std::fs::create_dir_all(logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        Ok(Lambdas {
            functions: BTreeMap::new(),
            logs: logs.to_owned(),
        })
    }

    /// Starts `bin_dir/name` with `env` (plus Lambda's own variables) behind a new Runtime API.
    pub async fn start(
        &mut self,
        bin_dir: &Path,
        name: &str,
        env: &[(&str, String)],
    ) -> Result<(), String> {
        let binary = bin_dir.join(name);
        if !binary.exists() {
            return Err(format!(
                "{} is missing: build it first (scripts/demo.sh does)",
                binary.display()
            ));
        }
        let api = RuntimeApi::start()
            .await
            .map_err(|e| format!("runtime API for {name}: {e}"))?;
        let log_path = self.logs.join(format!("{name}.log"));
        let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(lambda_environment(&api.address, name))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        self.functions
            .insert(name.to_owned(), Function { api, child });
        Ok(())
    }

    /// Invokes `name` with `event`: the handler's response, or its error document.
    pub async fn invoke(&self, name: &str, event: Value) -> Result<Answer, String> {
        let f = self
            .functions
            .get(name)
            .ok_or_else(|| format!("{name} is not running"))?;
        f.api.invoke(event, TIMEOUT).await.map_err(|e| {
            format!(
                "{name}: {e} (log: {})",
                self.logs.join(format!("{name}.log")).display()
            )
        })
    }
}
