//! The endpoints events are delivered to: registered through the SSRF check, each with its own
//! signing secret, rotated with a grace period, disabled when it keeps failing.
//!
//! Why the check at registration: the provider POSTs to whatever URL a customer typed, from
//! inside its own network. Unchecked, "deliver my webhooks to http://169.254.169.254/" makes the
//! provider fetch its cloud credentials for the attacker. (The dispatcher also refuses redirects,
//! which would otherwise walk around this check.)
//!
//! Why a grace period on rotation: the consumer updates its secret some time after the provider
//! does. Until `previous_secret_expires_at` every delivery is signed with both secrets (Standard
//! Webhooks allows several space-separated signatures), so it verifies on either side of the
//! switch.

use std::time::Duration;

use diesel::prelude::*;

use crate::config::Config;
use crate::outbox::DeliveryStatus;
use crate::signature::{Secret, SecretError, Signer};
use crate::store::schema::webhooks_deliveries as d;
use crate::store::schema::webhooks_endpoints as e;
use crate::store::{AnyConnection, Db, Millis, StoreError, new_id};

/// A registered endpoint. `Debug` leaves the secrets out.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = e)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    #[serde(skip)]
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<Millis>,
    pub enabled: bool,
    /// Why the provider stopped delivering, in words the owner can act on.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<Millis>,
    pub consecutive_failures: i32,
    pub created_at: Millis,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .field("disabled_reason", &self.disabled_reason)
            .field("consecutive_failures", &self.consecutive_failures)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The signer for this endpoint's deliveries: the current secret, and the previous one
    /// until its grace deadline (rounded down to the second, the unit of `webhook-timestamp`).
    /// Fails only if a stored secret was corrupted.
    pub fn signer(&self) -> Result<Signer, SecretError> {
        let current = Secret::parse(&self.secret)?;
        match (&self.previous_secret, self.previous_secret_expires_at) {
            (Some(previous), Some(until)) => {
                let mut signer = Signer::new(Secret::parse(previous)?);
                signer.rotate(current, u64::try_from(until / 1000).unwrap_or(0));
                Ok(signer)
            }
            _ => Ok(Signer::new(current)),
        }
    }
}

/// Registers `url` after the SSRF check, with a new `whsec_` secret. The returned endpoint holds
/// the secret: the only time the owner is shown it.
pub async fn register(db: &Db, url: &str, config: &Config) -> Result<Endpoint, StoreError> {
    // The refusal's text names the rule ("a private address"), never a resolved internal address
    // beyond the one the owner typed, so it is safe to show.
    crate::ssrf::check_endpoint(url, config.allow_loopback)
        .await
        .map_err(|e| StoreError::EndpointRefused(e.to_string()))?;
    let secret = Secret::generate().expose();
    let id = new_id("ep");
    let url = url.to_owned();
    let now = chrono::Utc::now().timestamp_millis();
    let fetch = id.clone();
    db.interact(move |c| {
        diesel::insert_into(e::table)
            .values((
                e::id.eq(&id),
                e::url.eq(&url),
                e::secret.eq(&secret),
                e::enabled.eq(true),
                e::consecutive_failures.eq(0),
                e::created_at.eq(now),
            ))
            .execute(c)
    })
    .await?;
    get(db, &fetch).await?.ok_or(StoreError::NotFound {
        kind: "endpoint",
        id: fetch,
    })
}

/// One endpoint by id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Endpoint>, StoreError> {
    let id = id.to_owned();
    Ok(db
        .interact(move |c| {
            e::table
                .filter(e::id.eq(id))
                .select(Endpoint::as_select())
                .first(c)
                .optional()
        })
        .await?)
}

/// Gives `endpoint` a new secret and keeps the old one signing for `grace`. Returns the new
/// secret. A rotation during a grace period drops the oldest secret at once: two at a time.
pub async fn rotate_secret(db: &Db, endpoint: &str, grace: Duration) -> Result<String, StoreError> {
    let secret = Secret::generate().expose();
    let until = chrono::Utc::now().timestamp_millis()
        + i64::try_from(grace.as_millis()).unwrap_or(i64::MAX / 2);
    let (id, new) = (endpoint.to_owned(), secret.clone());
    let updated = db
        .interact(move |c| {
            c.write_transaction(|c| {
                let current: Option<String> = e::table
                    .filter(e::id.eq(&id))
                    .select(e::secret)
                    .first(c)
                    .optional()?;
                let Some(current) = current else { return Ok(0) };
                diesel::update(e::table.filter(e::id.eq(&id)))
                    .set((
                        e::secret.eq(new),
                        e::previous_secret.eq(Some(current)),
                        e::previous_secret_expires_at.eq(Some(until)),
                    ))
                    .execute(c)
            })
        })
        .await?;
    if updated == 0 {
        return Err(StoreError::NotFound {
            kind: "endpoint",
            id: endpoint.to_owned(),
        });
    }
    Ok(secret)
}

/// Stops deliveries to `endpoint`, saying why: its pending attempts are closed as failed with
/// the reason, and no new event queues a delivery for it until it is enabled again.
pub fn disable_in(
    c: &mut AnyConnection,
    endpoint: &str,
    reason: &str,
    now: Millis,
) -> QueryResult<()> {
    diesel::update(e::table.filter(e::id.eq(endpoint)))
        .set((
            e::enabled.eq(false),
            e::disabled_reason.eq(Some(reason)),
            e::disabled_at.eq(Some(now)),
        ))
        .execute(c)?;
    diesel::update(
        d::table
            .filter(d::endpoint_id.eq(endpoint))
            .filter(d::status.eq(DeliveryStatus::Pending.as_str())),
    )
    .set((
        d::status.eq(DeliveryStatus::Failed.as_str()),
        d::error.eq(Some(format!("not sent: {reason}"))),
    ))
    .execute(c)?;
    Ok(())
}

/// Re-enables `endpoint` (its owner fixed it), with its failure count back at zero. Events
/// committed while it was disabled are not queued for it; [`crate::dispatcher::redeliver`] sends
/// the ones the owner wants.
pub async fn enable(db: &Db, endpoint: &str) -> Result<(), StoreError> {
    let id = endpoint.to_owned();
    let updated = db
        .interact(move |c| {
            diesel::update(e::table.filter(e::id.eq(id)))
                .set((
                    e::enabled.eq(true),
                    e::disabled_reason.eq(None::<String>),
                    e::disabled_at.eq(None::<Millis>),
                    e::consecutive_failures.eq(0),
                ))
                .execute(c)
        })
        .await?;
    if updated == 0 {
        return Err(StoreError::NotFound {
            kind: "endpoint",
            id: endpoint.to_owned(),
        });
    }
    Ok(())
}
