//! JSON Merge Patch (RFC 7396): how PATCH says "change these fields, remove those".
//!
//! A merge patch looks like the resource: fields present are set, fields set to `null` are removed,
//! fields absent are left alone. It cannot set a value to `null` or edit one element of an array
//! (JSON Patch, RFC 6902, can); in exchange a client can write one by hand. Applying the same merge
//! patch twice gives the same result as applying it once, which is why this PATCH is idempotent
//! even though HTTP does not promise that of PATCH in general.

use serde_json::{Map, Value};

/// Applies `patch` to `target` in place, exactly as RFC 7396 section 2 defines it.
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        // A patch that is not an object replaces the target entirely.
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(fields) = target {
        for (name, value) in patch {
            if value.is_null() {
                fields.remove(name);
            } else {
                apply(fields.entry(name.clone()).or_insert(Value::Null), value);
            }
        }
    }
}
