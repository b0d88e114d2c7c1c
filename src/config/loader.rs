//! Reading TOML layers, applying `--set` overrides, and deserialising with
//! the failing key's full path.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::{Validate, Validator};
use crate::{Error, Result};

/// Load a config of type `T` from `path` with `overrides` (`key=value` strings).
pub fn load<T: DeserializeOwned + Validate>(path: &Path, overrides: &[String]) -> Result<T> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io("reading experiment", path, e))?;
    load_layers(&text, &path.display().to_string(), path.parent(), overrides)
}

/// Load a config from TOML text; `origin` names it in errors. `include`
/// paths are resolved relative to the working directory.
pub fn load_str<T: DeserializeOwned + Validate>(
    text: &str,
    origin: &str,
    overrides: &[String],
) -> Result<T> {
    load_layers(text, origin, None, overrides)
}

fn load_layers<T: DeserializeOwned + Validate>(
    text: &str,
    origin: &str,
    dir: Option<&Path>,
    overrides: &[String],
) -> Result<T> {
    let file = parse_table(text, origin)?;
    let mut merged = with_includes::<T>(file, origin, dir, 0)?;
    // Check the file layers alone first, so errors in them name the file
    // rather than `--set`.
    let config: T = deserialize(merged.clone(), origin)?;
    reject_non_finite::<T>(&merged, "", origin)?;
    if overrides.is_empty() {
        validate(&config, origin)?;
        return Ok(config);
    }
    let file_problems = problems(&config);
    for spec in overrides {
        let (key, value) = parse_override(spec)?;
        let mut single = Table::new();
        set_path(&mut single, &key, value.clone())?;
        reject_non_finite::<T>(&single, "", "--set")?;
        set_path(&mut merged, &key, value)?;
    }
    let config: T = deserialize(merged, "--set")?;
    // A range problem the file alone did not have comes from the overrides.
    match problems(&config).into_iter().next() {
        None => Ok(config),
        Some((key, problem)) => {
            let blame = match file_problems.iter().any(|(k, _)| *k == key) {
                true => origin,
                false => "--set",
            };
            Err(Error::config(blame, key, problem))
        }
    }
}

/// How deep includes may nest (an experiment including an experiment
/// that includes a preset is 2); deeper is taken for a cycle.
const MAX_INCLUDE_DEPTH: usize = 4;

/// `file` over the files its `include` list names (each over its own
/// includes, resolved relative to itself), in order: later layers win.
fn with_includes<T: DeserializeOwned + Validate>(
    mut file: Table,
    origin: &str,
    dir: Option<&Path>,
    depth: usize,
) -> Result<Table> {
    let mut merged = Table::new();
    for include in includes(&file, origin)? {
        let path = dir.map_or_else(|| PathBuf::from(&include), |d| d.join(&include));
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(Error::config(
                origin,
                "include",
                format!(
                    "includes nest deeper than {MAX_INCLUDE_DEPTH} files at `{}`: does a file \
                     include itself?",
                    path.display()
                ),
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::config(
                origin,
                "include",
                format!("cannot read the included file `{}`: {e}", path.display()),
            )
        })?;
        let name = path.display().to_string();
        let layer =
            with_includes::<T>(parse_table(&text, &name)?, &name, path.parent(), depth + 1)?;
        deserialize::<T>(layer.clone(), &name)?;
        merge(&mut merged, layer);
    }
    file.remove("include");
    merge(&mut merged, file);
    Ok(merged)
}

fn problems<T: Validate>(config: &T) -> Vec<(String, String)> {
    let mut v = Validator::default();
    config.validate(&mut v);
    v.into_problems()
}

/// Refuse NaN anywhere, and infinities except where `T` allows them: no
/// learning rate, scale or bound is meaningful at infinity, and ranges
/// checked with `>` would let one through.
fn reject_non_finite<T: Validate>(table: &Table, prefix: &str, origin: &str) -> Result<()> {
    for (key, value) in table {
        let path = match prefix {
            "" => key.clone(),
            prefix => format!("{prefix}.{key}"),
        };
        match value {
            Value::Table(inner) => reject_non_finite::<T>(inner, &path, origin)?,
            Value::Float(x) if x.is_nan() => {
                return Err(Error::config(origin, path, "must be a number, got nan"));
            }
            Value::Float(x) if x.is_infinite() && !T::MAY_BE_INFINITE.contains(&path.as_str()) => {
                return Err(Error::config(
                    origin,
                    path,
                    format!("must be finite, got {x}"),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Check the ranges of a config built in code; `origin` names it in errors.
pub fn validate<T: Validate>(config: &T, origin: &str) -> Result<()> {
    let mut v = Validator::default();
    config.validate(&mut v);
    v.finish(origin)
}

fn parse_table(text: &str, origin: &str) -> Result<Table> {
    text.parse::<Table>().map_err(|e| {
        let message = e.message().to_string();
        let location = e
            .span()
            .map(|span| line_col(text, span.start))
            .map(|(l, c)| format!(" (line {l}, column {c})"));
        Error::config(
            origin,
            "<syntax>",
            format!("{message}{}", location.unwrap_or_default()),
        )
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn includes(table: &Table, origin: &str) -> Result<Vec<String>> {
    match table.get("include") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    Error::config(origin, "include", "expected a list of file paths (strings)")
                })
            })
            .collect(),
        Some(_) => Err(Error::config(
            origin,
            "include",
            "expected a list of file paths, e.g. include = [\"presets/size-s.toml\"]",
        )),
    }
}

fn deserialize<T: DeserializeOwned>(table: Table, origin: &str) -> Result<T> {
    serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." {
            "<top level>".to_string()
        } else {
            key
        };
        Error::config(origin, key, e.into_inner().to_string())
    })
}

/// Deep-merge `over` into `base`: tables merge key by key, other values replace.
fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Split `section.key=value`; the value is read as TOML (`3`, `1e-4`,
/// `true`, `"text"`, `[1, 2]`) and otherwise taken as a bare string.
pub fn parse_override(spec: &str) -> Result<(String, Value)> {
    let (key, raw) = spec.split_once('=').ok_or_else(|| {
        Error::config(
            "--set",
            spec,
            "expected `section.key=value`, e.g. `--set run.env_steps=5000`",
        )
    })?;
    let key = key.trim().to_string();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(Error::config(
            "--set",
            spec,
            "the key is empty or has an empty part",
        ));
    }
    let raw = raw.trim();
    let value = format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    Ok((key, value))
}

fn set_path(table: &mut Table, key: &str, value: Value) -> Result<()> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("non-empty key");
    let mut current = table;
    for (depth, part) in parts.iter().enumerate() {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        current = match entry {
            Value::Table(t) => t,
            _ => {
                let prefix = parts[..=depth].join(".");
                return Err(Error::config(
                    "--set",
                    key,
                    format!("`{prefix}` is a value, not a section"),
                ));
            }
        };
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// Write the fully resolved config as TOML to `path`, through a temporary
/// file renamed into place, so a kill leaves no half-written config.
pub fn save_resolved<T: Serialize>(config: &T, path: &Path) -> Result<()> {
    let text = toml::to_string_pretty(config)
        .map_err(|e| Error::config(path.display().to_string(), "<serialise>", e.to_string()))?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io("writing resolved config", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("writing resolved config", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        lr: f64,
        layers: usize,
    }
    impl Default for Inner {
        fn default() -> Self {
            Inner {
                lr: 1e-4,
                layers: 2,
            }
        }
    }
    #[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Outer {
        name: String,
        model: Inner,
    }
    impl Validate for Outer {
        fn validate(&self, v: &mut Validator) {
            v.section("model", |v| v.positive("layers", self.model.layers));
        }
    }

    #[test]
    fn defaults_fill_missing_keys_and_overrides_win() {
        let c: Outer = load_str("name = \"x\"\n[model]\nlayers = 3\n", "exp.toml", &[]).unwrap();
        assert_eq!(
            c,
            Outer {
                name: "x".into(),
                model: Inner {
                    lr: 1e-4,
                    layers: 3
                }
            }
        );
        let c: Outer = load_str(
            "[model]\nlayers = 3\n",
            "exp.toml",
            &["model.lr=0.5".into(), "name=run1".into()],
        )
        .unwrap();
        assert_eq!(c.model.lr, 0.5);
        assert_eq!(c.name, "run1");
    }

    #[test]
    fn unknown_key_names_file_and_full_key() {
        let err = load_str::<Outer>("[model]\nlayer = 3\n", "exp.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("exp.toml: `model.layer`") && err.contains("unknown field"),
            "{err}"
        );
        let err = load_str::<Outer>("", "exp.toml", &["model.dropout=0.1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--set: `model.dropout`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key_and_the_expected_type() {
        let err = load_str::<Outer>("[model]\nlayers = \"many\"\n", "exp.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`model.layers`") && err.contains("invalid type"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_value_names_the_key() {
        let err = load_str::<Outer>("[model]\nlayers = 0\n", "exp.toml", &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "exp.toml: `model.layers`: must be greater than 0, got 0"
        );
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let err = load_str::<Outer>("name = \"x\"\n[model\n", "exp.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("exp.toml") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn bad_override_syntax_is_explained() {
        let err = parse_override("model.lr").unwrap_err().to_string();
        assert!(err.contains("section.key=value"), "{err}");
        let err = load_str::<Outer>("", "exp.toml", &["name=x".into(), "name.inner=1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`name` is a value, not a section"), "{err}");
    }

    #[test]
    fn includes_layer_under_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("preset.toml"),
            "[model]\nlayers = 5\nlr = 0.1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("exp.toml"),
            "include = [\"preset.toml\"]\n[model]\nlr = 0.2\n",
        )
        .unwrap();
        let c: Outer = load(&dir.path().join("exp.toml"), &[]).unwrap();
        assert_eq!(c.model, Inner { lr: 0.2, layers: 5 });
        std::fs::write(
            dir.path().join("bad.toml"),
            "include = [\"missing.toml\"]\n",
        )
        .unwrap();
        let err = load::<Outer>(&dir.path().join("bad.toml"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.toml"), "{err}");
        // An experiment over an experiment over a preset, each resolved
        // relative to its own file; a file that includes itself is refused.
        std::fs::create_dir(dir.path().join("suite")).unwrap();
        std::fs::write(
            dir.path().join("suite/over.toml"),
            "include = [\"../exp.toml\"]\n[model]\nlayers = 7\n",
        )
        .unwrap();
        let c: Outer = load(&dir.path().join("suite/over.toml"), &[]).unwrap();
        assert_eq!(c.model, Inner { lr: 0.2, layers: 7 });
        std::fs::write(dir.path().join("loop.toml"), "include = [\"loop.toml\"]\n").unwrap();
        let err = load::<Outer>(&dir.path().join("loop.toml"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("include itself"), "{err}");
    }

    #[test]
    fn resolved_config_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let c = Outer {
            name: "n".into(),
            model: Inner { lr: 0.3, layers: 4 },
        };
        let path = dir.path().join("config.toml");
        save_resolved(&c, &path).unwrap();
        let back: Outer = load(&path, &[]).unwrap();
        assert_eq!(back, c);
    }
}
