//! Names that no other test, demo run or rerun uses: for databases, schemas, Redis key prefixes
//! and queues, so everything can run in parallel and a rerun starts clean.

/// `bf_<label>_<12 hex digits>`: safe as a PostgreSQL identifier, a Redis key part and an AMQP
/// queue name, and unique across parallel tests and reruns.
pub fn unique_name(label: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("bf_{}_{}", clean(label), &id[..12])
}

/// `label` with every character that is not an ASCII letter or digit replaced by `_`, lower-cased.
pub fn clean(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
