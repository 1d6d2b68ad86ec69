//! No cache: every call goes to the store. The baseline every table compares against, and the
//! only strategy that can never serve a stale value.

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::error::Error;
use crate::model::{Post, PostUpdate, TopPost};
use crate::store::Store;
use crate::strategies::{Strategy, like_in_store, validate};

/// The name in route prefixes and tables.
pub const NAME: &str = "no-cache";

pub struct NoCache {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl NoCache {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

#[async_trait]
impl Strategy for NoCache {
    fn name(&self) -> String {
        NAME.to_owned()
    }

    async fn get_post(&self, id: i64) -> Result<Post, Error> {
        self.store.get_post(id).await?.ok_or(Error::NotFound(id))
    }

    async fn top_posts(&self) -> Result<Vec<TopPost>, Error> {
        Ok(self.store.top_posts().await?)
    }

    async fn update_post(&self, id: i64, update: PostUpdate) -> Result<Post, Error> {
        validate(&update)?;
        let now = i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX);
        self.store
            .update_post(id, update, now)
            .await?
            .ok_or(Error::NotFound(id))
    }

    async fn like(&self, id: i64, user_id: i64) -> Result<(), Error> {
        like_in_store(&self.store, id, user_id).await
    }
}
