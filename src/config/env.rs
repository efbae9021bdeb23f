//! Environment overrides: `BLACKANT_<KEY>` for a top-level key (`BLACKANT_LISTEN`,
//! `BLACKANT_DATA_DIR`, `BLACKANT_AGENTS=agent1,agent2`) and `BLACKANT_<SECTION>_<KEY>` for a
//! section's (`BLACKANT_BROWSERS_SIZE=4`, `BLACKANT_SCHEDULE_ENABLED=false`,
//! `BLACKANT_HTTP_LISTEN=0.0.0.0:50052`). They win over the file.
//!
//! A variable naming a known section but no key of it is refused with the keys it has (a typo
//! must not be silently ignored); variables outside every section belong to someone else
//! (`BLACKANT_TOKEN` of `ctl`, the simulator's) and are left alone, as are the ones listed in
//! [`NOT_SETTINGS`]. Values are typed by the setting: whole numbers, `true`/`false`, lists as
//! `a,b` or a TOML array. Must NOT read the file (mod.rs does).

use super::{Config, ConfigError, SERVICE_PASSWORD_ENV};
use toml::{Table, Value};

/// Prefix of every override.
pub const ENV_PREFIX: &str = "BLACKANT_";

/// `BLACKANT_` variables that are not settings.
pub const NOT_SETTINGS: &[&str] = &[
    "BLACKANT_CONFIG",
    SERVICE_PASSWORD_ENV,
    "BLACKANT_ADDR",
    "BLACKANT_TOKEN",
    "BLACKANT_CHROMIUM",
];

/// Settings that have no default value (absent unless set), all text.
const OPTIONAL: &[(&str, &str)] = &[
    ("erp", "service_user"),
    ("browsers", "chromium"),
    ("tls", "cert_file"),
    ("tls", "key_file"),
    ("logging", "file"),
];

/// Apply every override in `vars` to `table` (the file's contents).
pub fn apply(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let defaults = Table::try_from(Config::default()).map_err(|e| ConfigError::Env {
        var: ENV_PREFIX.into(),
        why: format!("the defaults cannot be listed: {e}"),
    })?;
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !NOT_SETTINGS.contains(&k.as_str()))
        .collect();
    vars.sort(); // the same result whatever the environment's order
    for (var, raw) in vars {
        let name = var[ENV_PREFIX.len()..].to_ascii_lowercase();
        let Some((path, default)) = locate(&defaults, &name, &var)? else {
            continue;
        };
        let value = typed(&var, &raw, default.as_ref())?;
        match path {
            (None, key) => {
                table.insert(key, value);
            }
            (Some(section), key) => {
                let entry = table
                    .entry(section.clone())
                    .or_insert_with(|| Value::Table(Table::new()));
                let Value::Table(t) = entry else {
                    return Err(ConfigError::Env {
                        var,
                        why: format!("`{section}` in the file is not a section"),
                    });
                };
                t.insert(key, value);
            }
        }
    }
    Ok(())
}

/// (section, key) of `name` and the setting's default (None: an optional setting, text);
/// `Ok(None)` when the variable is not about the configuration.
type Located = ((Option<String>, String), Option<Value>);

fn locate(defaults: &Table, name: &str, var: &str) -> Result<Option<Located>, ConfigError> {
    if let Some(v) = defaults.get(name).filter(|v| !v.is_table()) {
        return Ok(Some(((None, name.to_string()), Some(v.clone()))));
    }
    // The longest section name that prefixes the variable (none has an underscore today).
    let section = defaults
        .iter()
        .filter(|(s, v)| v.is_table() && name.starts_with(&format!("{s}_")))
        .max_by_key(|(s, _)| s.len());
    let Some((section, Value::Table(keys))) = section else {
        return Ok(None);
    };
    let key = &name[section.len() + 1..];
    if section == "auth" {
        return Err(ConfigError::Env {
            var: var.into(),
            why:
                "tokens are configured in the file (`[[auth.tokens]]`, hashed), not the environment"
                    .into(),
        });
    }
    if let Some(default) = keys.get(key) {
        return Ok(Some((
            (Some(section.clone()), key.to_string()),
            Some(default.clone()),
        )));
    }
    if OPTIONAL.contains(&(section.as_str(), key)) {
        return Ok(Some(((Some(section.clone()), key.to_string()), None)));
    }
    let mut known: Vec<String> = keys.keys().cloned().collect();
    known.extend(
        OPTIONAL
            .iter()
            .filter(|(s, _)| s == section)
            .map(|(_, k)| k.to_string()),
    );
    known.sort();
    Err(ConfigError::Env {
        var: var.into(),
        why: format!(
            "[{section}] has no `{key}` (its settings: {})",
            known.join(", ")
        ),
    })
}

/// `raw` as a value of the setting's type.
fn typed(var: &str, raw: &str, default: Option<&Value>) -> Result<Value, ConfigError> {
    let bad = |what: &str| ConfigError::Env {
        var: var.into(),
        why: format!("expected {what}, got {:?}", crate::service::clip(raw)),
    };
    let raw = raw.trim();
    Ok(match default {
        None | Some(Value::String(_)) => Value::String(raw.to_string()),
        Some(Value::Integer(_)) => Value::Integer(raw.parse().map_err(|_| bad("a whole number"))?),
        Some(Value::Float(_)) => Value::Float(raw.parse().map_err(|_| bad("a number"))?),
        Some(Value::Boolean(_)) => Value::Boolean(match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(bad("true or false")),
        }),
        Some(Value::Array(_)) if raw.starts_with('[') => {
            let doc: Table = format!("v = {raw}")
                .parse()
                .map_err(|_| bad("a TOML array or a comma-separated list"))?;
            doc.get("v").cloned().ok_or_else(|| bad("a list"))?
        }
        Some(Value::Array(_)) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        Some(_) => return Err(bad("a plain value")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(file: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blackant.toml");
        std::fs::write(&path, file).unwrap();
        Config::load_with_env(Some(Path::new(&path)), env(pairs))
    }

    #[test]
    fn the_environment_wins_over_the_file_with_typed_values() {
        let c = load(
            "listen = \"127.0.0.1:1\"\n[browsers]\nsize = 3\n",
            &[
                ("BLACKANT_LISTEN", "127.0.0.1:6000"),
                ("BLACKANT_BROWSERS_SIZE", "4"),
                ("BLACKANT_SCHEDULE_ENABLED", "false"),
                ("BLACKANT_AGENTS", "agent1, agent2"),
                ("BLACKANT_ERP_SERVICE_USER", "sync.catalogo"),
                ("BLACKANT_HTTP_LISTEN", "127.0.0.1:6001"),
            ],
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:6000");
        assert_eq!(c.browsers.size, 4);
        assert!(!c.schedule.enabled);
        assert_eq!(c.agents, ["agent1", "agent2"]);
        assert_eq!(c.erp.service_user.as_deref(), Some("sync.catalogo"));
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:6001");
    }

    #[test]
    fn unknown_and_bad_overrides_are_refused_naming_the_variable() {
        let e = load("", &[("BLACKANT_BROWSERS_SIZ", "4")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("BLACKANT_BROWSERS_SIZ") && e.contains("size"),
            "{e}"
        );
        let e = load("", &[("BLACKANT_BROWSERS_SIZE", "four")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("BLACKANT_BROWSERS_SIZE") && e.contains("whole number"),
            "{e}"
        );
        let e = load("", &[("BLACKANT_LISTEN", "not an address")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`listen`"), "{e}");
        // Variables that are not about the configuration are not its business.
        load(
            "",
            &[
                ("BLACKANT_TOKEN", "x"),
                ("BLACKANT_CRASH_SEED", "7"),
                ("BLACKANT_ERP_SERVICE_PASSWORD", "secret"),
            ],
        )
        .unwrap();
    }
}
