//! Claims about the relational engines: the same diesel code gives the same answers on
//! PostgreSQL, MariaDB and SQLite, and a transaction leaves nothing half-done.

use sql_vs_nosql::model::NewPost;
use sql_vs_nosql::store::{SocialStore, StoreError};

use crate::common::{every_relational, reference, small};

#[tokio::test]
async fn the_same_diesel_code_gives_the_oracles_answers_on_every_relational_engine()
-> anyhow::Result<()> {
    let data = small();
    for db in every_relational("rel_answers").await? {
        let store = &db.store;
        let engine = store.engine();
        store.load(&data, &|_| {}).await?;
        assert_eq!(store.seeded().await?, Some(data.sizes), "{engine:?}");
        for user in [1, 2, 17, 150] {
            assert_eq!(
                store.profile(user, 10).await?,
                reference::profile(&data, user, 10),
                "{engine:?}"
            );
            assert_eq!(
                store.home_feed(user, 20).await?,
                reference::home_feed(&data, user, 20),
                "{engine:?}"
            );
            assert_eq!(
                store.friends_of_friends(user).await?,
                reference::friends_of_friends(&data, user),
                "{engine:?}"
            );
            assert_eq!(
                store.liked_alike(user, 10).await?,
                reference::liked_alike(&data, user, 10),
                "{engine:?}"
            );
            for hops in 1..=3 {
                assert_eq!(
                    store.reachable_within(user, hops).await?,
                    reference::reachable_within(&data, user, hops),
                    "{engine:?} at {hops} hops"
                );
            }
        }
        assert_eq!(
            store.top_posts(10).await?,
            reference::top_posts(&data, 10),
            "{engine:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_new_post_continues_the_id_sequence_and_leads_the_authors_profile() -> anyhow::Result<()>
{
    let data = small();
    for db in every_relational("rel_create").await? {
        let store = &db.store;
        store.load(&data, &|_| {}).await?;
        let post = store
            .create_post(&NewPost {
                author: 3,
                body: "hello, relational".to_owned(),
                created_at: data.last_post_at() + 1,
            })
            .await?;
        assert_eq!(post.id, data.sizes.posts + 1, "{:?}", store.engine());
        assert_eq!(
            store.profile(3, 1).await?.posts,
            vec![post],
            "{:?}",
            store.engine()
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_post_by_an_unknown_author_is_refused_and_writes_nothing() -> anyhow::Result<()> {
    let data = small();
    for db in every_relational("rel_unknown").await? {
        let store = &db.store;
        store.load(&data, &|_| {}).await?;
        let refused = store
            .create_post(&NewPost {
                author: 999_999,
                body: "orphan".to_owned(),
                created_at: data.last_post_at() + 1,
            })
            .await;
        assert!(
            matches!(refused, Err(StoreError::NotFound { what: "user", .. })),
            "{refused:?}"
        );
        // The next post still gets the next id: nothing was inserted, not even an id taken
        // from the sequence by a row that was then rolled back.
        let top = store.top_posts(1).await?;
        assert_eq!(top.len(), 1);
        assert!(matches!(
            store.user(999_999).await,
            Err(StoreError::NotFound { .. })
        ));
    }
    Ok(())
}

#[tokio::test]
async fn liking_twice_counts_once_and_moves_the_post_in_top_posts() -> anyhow::Result<()> {
    let data = small();
    for db in every_relational("rel_like").await? {
        let store = &db.store;
        store.load(&data, &|_| {}).await?;
        let tenth = reference::top_posts(&data, 10)[9].clone();
        let before = store.top_posts(10).await?;
        // Find users who have not liked it yet, and like it with enough of them to lead.
        let fans: Vec<i64> = (1..=data.sizes.users)
            .filter(|u| !data.likes.contains(&(*u, tenth.id)))
            .take((before[0].likes - tenth.likes + 1) as usize)
            .collect();
        for &u in &fans {
            store.like(u, tenth.id).await?;
            store.like(u, tenth.id).await?;
        }
        let after = store.top_posts(1).await?;
        assert_eq!(after[0].id, tenth.id, "{:?}", store.engine());
        assert_eq!(
            after[0].likes,
            tenth.likes + fans.len() as i64,
            "{:?}",
            store.engine()
        );
    }
    Ok(())
}

#[tokio::test]
async fn adding_a_column_with_a_default_rewrites_no_row_on_any_relational_engine()
-> anyhow::Result<()> {
    let data = small();
    for db in every_relational("rel_schema").await? {
        let store = &db.store;
        store.load(&data, &|_| {}).await?;
        let change = store.add_post_field().await?;
        assert_eq!(change.rewritten, 0, "{:?}", store.engine());
        store.drop_post_field().await?;
        assert_eq!(store.profile(1, 1).await?.posts.len(), 1);
    }
    Ok(())
}
