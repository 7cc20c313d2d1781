//! What the examples share: a tiny `--flag value` command-line parser, so that each example
//! stays a short tutorial without pulling in an argument-parsing crate.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

/// `--name value` pairs and bare `--switch`es from the command line.
pub struct Args {
    values: HashMap<String, String>,
    switches: Vec<String>,
}

impl Args {
    /// Parses `std::env::args()`; prints `usage` and exits on `--help`.
    pub fn parse(usage: &str) -> Result<Self, String> {
        let mut values = HashMap::new();
        let mut switches = Vec::new();
        let mut tokens = std::env::args().skip(1).peekable();
        while let Some(token) = tokens.next() {
            if token == "--help" || token == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            let Some(name) = token.strip_prefix("--") else {
                return Err(format!("unexpected argument `{token}`\n\n{usage}"));
            };
            match tokens.peek() {
                Some(next) if !next.starts_with("--") => {
                    values.insert(name.to_string(), tokens.next().unwrap_or_default());
                }
                _ => switches.push(name.to_string()),
            }
        }
        Ok(Self { values, switches })
    }

    /// The value of `--name`, parsed, or `default` when absent.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.get(name) {
            Some(raw) => raw.parse().map_err(|err| format!("--{name} {raw}: {err}")),
            None => Ok(default),
        }
    }

    /// The value of `--name` as a path, or `default`.
    pub fn path(&self, name: &str, default: &str) -> PathBuf {
        PathBuf::from(self.values.get(name).map_or(default, String::as_str))
    }

    /// Whether the bare switch `--name` was given.
    #[allow(dead_code)] // not every example has switches
    pub fn flag(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}
