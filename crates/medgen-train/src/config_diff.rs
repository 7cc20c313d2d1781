//! Naming the keys in which two JSON configurations differ.

use serde_json::Value;

/// One key at which two JSON documents differ.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigDifference {
    /// The dotted path of the key (`"model.channels"`, `"betas.1"`); empty for the root.
    pub key: String,
    /// The value in the first document (`None` if the key is absent there).
    pub left: Option<Value>,
    /// The value in the second document (`None` if the key is absent there).
    pub right: Option<Value>,
}

impl std::fmt::Display for ConfigDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".to_string(), Value::to_string);
        let key = if self.key.is_empty() { "(root)" } else { &self.key };
        write!(f, "{key}: {} vs {}", show(&self.left), show(&self.right))
    }
}

/// The leaves in which `left` and `right` differ, as dotted paths, skipping every key equal
/// to or below one of `ignore` (e.g. `["train.total_steps"]` lets a resumed run train longer).
/// Objects are compared key by key, arrays of equal length element by element; anything else
/// is compared whole.
pub fn config_differences(left: &Value, right: &Value, ignore: &[&str]) -> Vec<ConfigDifference> {
    let mut out = Vec::new();
    walk(String::new(), Some(left), Some(right), ignore, &mut out);
    out
}

fn walk(
    key: String,
    left: Option<&Value>,
    right: Option<&Value>,
    ignore: &[&str],
    out: &mut Vec<ConfigDifference>,
) {
    let ignored = ignore.iter().any(|skip| {
        key == *skip || key.strip_prefix(skip).is_some_and(|rest| rest.starts_with('.'))
    });
    if ignored || left == right {
        return;
    }
    let child = |name: &str| {
        if key.is_empty() { name.to_string() } else { format!("{key}.{name}") }
    };
    match (left, right) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                walk(child(name), a.get(name), b.get(name), ignore, out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(child(&i.to_string()), Some(x), Some(y), ignore, out);
            }
        }
        _ => out.push(ConfigDifference { key, left: left.cloned(), right: right.cloned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_nested_keys_and_respects_ignores() {
        let a = json!({"lr": 0.001, "model": {"channels": 32, "groups": 8}, "betas": [0.9, 0.99]});
        let b = json!({"lr": 0.001, "model": {"channels": 64, "groups": 8, "extra": true},
                       "betas": [0.9, 0.999]});
        let diff = config_differences(&a, &b, &[]);
        let keys: Vec<&str> = diff.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["betas.1", "model.channels", "model.extra"]);
        assert_eq!(diff[2].left, None);
        assert!(diff[1].to_string().contains("32 vs 64"));
        let ignored = config_differences(&a, &b, &["model", "betas.1"]);
        assert!(ignored.is_empty());
        assert!(config_differences(&a, &a, &[]).is_empty());
    }
}
